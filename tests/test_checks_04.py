"""aecourse.checks for exercises 04: the reference answers pass, plausible mistakes are named."""

import math

import pytest
import torch
import torch.nn.functional as F

from aecourse import checks, corruption
from aecourse.metrics import psnr as package_psnr
from check_helpers import rejects

# ---------------------------------------------------------------- 4.1 Gaussian noise


def gaussian_noise(x, noise_factor=0.5):
    return (x + noise_factor * torch.randn_like(x)).clamp(0, 1)


def _other_normal(x):
    """Standard normal noise like x, but not torch.randn_like's draws (shifted by one number)."""
    return torch.randn(x.numel() + 1)[1:].reshape(x.shape)


def gaussian_with_normal(x, noise_factor=0.5):  # other draws, right statistics
    return torch.clip(x + noise_factor * _other_normal(x), 0.0, 1.0)


def gaussian_no_clip(x, noise_factor=0.5):
    return x + noise_factor * torch.randn_like(x)


def gaussian_uniform(x, noise_factor=0.5):
    return (x + noise_factor * torch.rand_like(x)).clamp(0, 1)


def gaussian_no_factor(x, noise_factor=0.5):
    return (x + torch.randn_like(x)).clamp(0, 1)


def gaussian_variance(x, noise_factor=0.5):
    return (x + noise_factor**2 * torch.randn_like(x)).clamp(0, 1)


def gaussian_multiplied(x, noise_factor=0.5):
    return (x * (1 + noise_factor * torch.randn_like(x))).clamp(0, 1)


def gaussian_noise_only(x, noise_factor=0.5):
    return (noise_factor * torch.randn_like(x)).clamp(0, 1)


def gaussian_rescaled(x, noise_factor=0.5):
    y = x + noise_factor * torch.randn_like(x)
    return (y - y.min()) / (y.max() - y.min())


def gaussian_in_place(x, noise_factor=0.5):
    x += noise_factor * torch.randn_like(x)
    return x.clamp_(0, 1)


def gaussian_fixed_generator(x, noise_factor=0.5):
    g = torch.Generator().manual_seed(42)
    return (x + noise_factor * torch.randn(x.shape, generator=g)).clamp(0, 1)


def gaussian_other_draws_no_noise_factor(x, noise_factor=0.5):  # other draws, wrong spread
    return (x + _other_normal(x)).clamp(0, 1)


def gaussian_other_draws_uniform(x, noise_factor=0.5):  # other draws, wrong mean
    return (x + noise_factor * torch.rand(x.shape[::-1]).T).clamp(0, 1)


def gaussian_other_draws_unclipped(x, noise_factor=0.5):
    return x + noise_factor * _other_normal(x)


def test_gaussian_noise_reference_passes(capsys):
    checks.check_gaussian_noise(gaussian_noise)
    checks.check_gaussian_noise(gaussian_noise, seed=3, n=10, d=50, noise_factor=0.3)
    out = capsys.readouterr().out
    assert "✓ gaussian_noise: adds noise_factor · N(0, 1) noise and clips" in out
    assert "statistics" not in out


def test_gaussian_noise_other_draws_pass_on_their_statistics(capsys):
    checks.check_gaussian_noise(gaussian_with_normal)
    checks.check_gaussian_noise(gaussian_with_normal, seed=1, n=20, d=100, noise_factor=0.8)
    assert "tested the noise's statistics instead" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    (gaussian_no_clip, "did not clip"),
    (gaussian_uniform, "drew uniform noise with torch.rand_like"),
    (gaussian_no_factor, "left out noise_factor"),
    (gaussian_variance, "scaled the noise by noise_factor²"),
    (gaussian_multiplied, "multiplied x by (1 + noise_factor · ε)"),
    (gaussian_noise_only, "returned the clipped noise alone"),
    (gaussian_rescaled, "rescaled the noisy batch to [0, 1] (min-max)"),
    (gaussian_in_place, "changed its input `x` in place"),
    (gaussian_fixed_generator, "returned the same corruption on two calls"),
    (gaussian_other_draws_no_noise_factor, "expected noise_factor = 0.1"),
    (gaussian_other_draws_uniform, "the noise has mean 0.05"),
    (gaussian_other_draws_unclipped, "outside the pixel range [0, 1]; clip"),
])
def test_gaussian_noise_mistakes_are_named(answer, fragment):
    rejects(checks.check_gaussian_noise, answer, fragment)


def test_gaussian_noise_stub_and_wrong_types():
    def stub(x, noise_factor=0.5):
        raise NotImplementedError()

    rejects(checks.check_gaussian_noise, stub, "not written yet")
    rejects(checks.check_gaussian_noise, lambda x, noise_factor: gaussian_noise(x, noise_factor)[0],
            "returned shape (784,), expected (64, 784)")
    rejects(checks.check_gaussian_noise, lambda x, noise_factor: gaussian_noise(x, noise_factor).numpy(),
            "returned ndarray, expected a torch.Tensor")
    rejects(checks.check_gaussian_noise, lambda x, noise_factor: (255 * gaussian_noise(x)).to(torch.uint8),
            "returned a torch.uint8 tensor")
    rejects(checks.check_gaussian_noise, lambda x, noise_factor: x + 0 * noise_factor, "added no noise")


# ---------------------------------------------------------------- 4.2 masking


def mask_pixels(x, fraction=0.25):
    return x * (torch.rand_like(x) >= fraction)


def mask_with_where(x, fraction=0.25):
    return torch.where(torch.rand_like(x) < fraction, 0.0, x)


def mask_with_bernoulli(x, fraction=0.25):  # other draws, right statistics
    return x * torch.bernoulli(torch.full_like(x, 1 - fraction))


def mask_keep_below(x, fraction=0.25):  # keeps where u < 1 - fraction: other draws, same statistics
    return x * (torch.rand_like(x) < 1 - fraction)


def mask_inverted(x, fraction=0.25):
    return x * (torch.rand_like(x) < fraction)


def mask_dropout(x, fraction=0.25):
    return F.dropout(x, p=fraction, training=True)


def mask_rescaled(x, fraction=0.25):
    return x * (torch.rand_like(x) >= fraction) / (1 - fraction)


def mask_to_one(x, fraction=0.25):
    return torch.where(torch.rand_like(x) < fraction, 1.0, x)


def mask_returned(x, fraction=0.25):
    return (torch.rand_like(x) >= fraction).float()


def mask_bool(x, fraction=0.25):
    return torch.rand_like(x) >= fraction


def mask_same_pixels(x, fraction=0.25):
    return x * (torch.rand(x.shape[1:]) >= fraction)


def mask_whole_images(x, fraction=0.25):
    return x * (torch.rand(len(x), 1) >= fraction)


def mask_half(x, fraction=0.25):
    return x * (torch.rand(x.shape) >= 0.5)


def mask_in_place(x, fraction=0.25):
    x[torch.rand_like(x) < fraction] = 0
    return x


def test_mask_pixels_reference_passes(capsys):
    checks.check_mask_pixels(mask_pixels)
    checks.check_mask_pixels(mask_with_where, seed=2, n=30, d=100, fraction=0.5)
    out = capsys.readouterr().out
    assert "✓ mask_pixels: sets each pixel to 0 with probability 0.3" in out and "statistics" not in out


def test_mask_pixels_other_draws_pass_on_their_statistics(capsys):
    checks.check_mask_pixels(mask_with_bernoulli)
    checks.check_mask_pixels(mask_keep_below, seed=1, fraction=0.1)
    assert "tested the share masked instead" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    (mask_inverted, "zeroed a share 1 − fraction of the pixels"),
    (mask_rescaled, "scaled the kept pixels by 1 / (1 − fraction), as dropout does"),
    (mask_dropout, "changed a pixel that it did not mask"),
    (mask_to_one, "set the masked pixels to 1"),
    (mask_returned, "returned the mask (1 = kept, 0 = masked)"),
    (mask_bool, "returned a bool tensor"),
    (mask_same_pixels, "corrupted the same pixels in every image"),
    (mask_whole_images, "corrupted whole images"),
    (mask_half, "expected about 30%"),
    (mask_in_place, "changed its input `x` in place"),
])
def test_mask_pixels_mistakes_are_named(answer, fragment):
    rejects(checks.check_mask_pixels, answer, fragment)


def test_mask_pixels_inverted_with_other_draws_is_named():
    def keeps_fraction(x, fraction=0.25):
        return x * torch.bernoulli(torch.full_like(x, fraction))

    rejects(checks.check_mask_pixels, keeps_fraction, "1 − fraction")


def test_mask_pixels_stub():
    rejects(checks.check_mask_pixels, lambda x, fraction: (_ for _ in ()).throw(NotImplementedError()),
            "not written yet")


# ---------------------------------------------------------------- 4.3 salt and pepper


def salt_and_pepper(x, fraction=0.1):
    corrupt = torch.rand_like(x) < fraction
    salt = (torch.rand_like(x) < 0.5).to(x.dtype)
    return torch.where(corrupt, salt, x)


def salt_and_pepper_one_draw(x, fraction=0.1):  # pepper below fraction / 2, salt up to fraction
    u = torch.rand_like(x)
    return torch.where(u < fraction / 2, 0.0, torch.where(u < fraction, 1.0, x))


def salt_only(x, fraction=0.1):
    return torch.where(torch.rand_like(x) < fraction, 1.0, x)


def pepper_only(x, fraction=0.1):
    return torch.where(torch.rand_like(x) < fraction, 0.0, x)


def salt_and_pepper_grey(x, fraction=0.1):
    corrupt = torch.rand_like(x) < fraction
    return torch.where(corrupt, torch.rand_like(x), x)


def salt_and_pepper_inverted(x, fraction=0.1):
    corrupt = torch.rand_like(x) >= fraction
    return torch.where(corrupt, (torch.rand_like(x) < 0.5).to(x.dtype), x)


def salt_and_pepper_two_masks(x, fraction=0.1):
    y = torch.where(torch.rand_like(x) < fraction, 1.0, x)
    return torch.where(torch.rand_like(x) < fraction, 0.0, y)


def salt_and_pepper_mostly_salt(x, fraction=0.1):
    u = torch.rand_like(x)
    return torch.where(u < fraction / 4, 0.0, torch.where(u < fraction, 1.0, x))


def salt_and_pepper_255(x, fraction=0.1):
    u = torch.rand_like(x)
    return torch.where(u < fraction / 2, 0.0, torch.where(u < fraction, 255.0, x))


def salt_and_pepper_same_pixels(x, fraction=0.1):
    u = torch.rand(x.shape[1:])
    return torch.where(u < fraction / 2, 0.0, torch.where(u < fraction, 1.0, x))


def salt_and_pepper_rescales(x, fraction=0.1):
    return 0.9 * salt_and_pepper_one_draw(x, fraction)


def salt_and_pepper_in_place(x, fraction=0.1):
    u = torch.rand_like(x)
    x[u < fraction] = (u[u < fraction] < fraction / 2).to(x.dtype)
    return x


def test_salt_and_pepper_reference_passes(capsys):
    checks.check_salt_and_pepper(salt_and_pepper)
    checks.check_salt_and_pepper(salt_and_pepper, seed=4, n=100, d=64, fraction=0.05)
    out = capsys.readouterr().out
    assert "✓ salt_and_pepper: sets a share 0.2 of the pixels to 0 or 1" in out and "statistics" not in out


def test_salt_and_pepper_other_draws_pass_on_their_statistics(capsys):
    checks.check_salt_and_pepper(salt_and_pepper_one_draw)
    checks.check_salt_and_pepper(salt_and_pepper_one_draw, seed=1, fraction=0.4)
    assert "tested their statistics instead" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    (salt_only, "set every corrupted pixel to 1 (salt only)"),
    (pepper_only, "set every corrupted pixel to 0, which is masking noise"),
    (salt_and_pepper_grey, "set the corrupted pixels to random grey values"),
    (salt_and_pepper_inverted, "corrupted a share 1 − fraction of the pixels"),
    (salt_and_pepper_two_masks, "about 2 × fraction"),
    (salt_and_pepper_mostly_salt, "75% of the corrupted pixels are salt (1) and 25% pepper (0)"),
    (salt_and_pepper_255, "outside the pixel range [0, 1]; salt is 1 and pepper is 0"),
    (salt_and_pepper_same_pixels, "corrupted the same pixels in every image"),
    (salt_and_pepper_rescales, "leave uncorrupted pixels as they are"),
    (salt_and_pepper_in_place, "changed its input `x` in place"),
])
def test_salt_and_pepper_mistakes_are_named(answer, fragment):
    rejects(checks.check_salt_and_pepper, answer, fragment)


def test_salt_and_pepper_stub_and_shape():
    def stub(x, fraction=0.1):
        raise NotImplementedError()

    rejects(checks.check_salt_and_pepper, stub, "not written yet")
    rejects(checks.check_salt_and_pepper, lambda x, fraction: salt_and_pepper(x, fraction).flatten(),
            "returned shape (50176,), expected (64, 784)")


def test_the_corruption_checks_leave_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks.check_gaussian_noise(gaussian_noise)
    checks.check_mask_pixels(mask_with_bernoulli)
    checks.check_salt_and_pepper(salt_and_pepper_one_draw)
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------- 4.4 PSNR


def psnr(x_hat, x, data_range=1.0):
    mse = ((x_hat - x) ** 2).mean(dim=1)
    return (10 * torch.log10(data_range**2 / mse)).mean()


def psnr_rmse(x_hat, x, data_range=1.0):  # 20 log10(R / RMSE) is the same number
    rmse = ((x_hat - x) ** 2).mean(dim=1).sqrt()
    return (20 * torch.log10(data_range / rmse)).mean().item()


def psnr_batch_mse(x_hat, x, data_range=1.0):
    return 10 * torch.log10(data_range**2 / F.mse_loss(x_hat, x))


def psnr_ln(x_hat, x, data_range=1.0):
    return (10 * torch.log(data_range**2 / ((x_hat - x) ** 2).mean(dim=1))).mean()


def psnr_no_ten(x_hat, x, data_range=1.0):
    return torch.log10(data_range**2 / ((x_hat - x) ** 2).mean(dim=1)).mean()


def psnr_twenty(x_hat, x, data_range=1.0):
    return (20 * torch.log10(data_range**2 / ((x_hat - x) ** 2).mean(dim=1))).mean()


def psnr_range_not_squared(x_hat, x, data_range=1.0):
    return (10 * torch.log10(data_range / ((x_hat - x) ** 2).mean(dim=1))).mean()


def psnr_ignores_range(x_hat, x, data_range=1.0):
    return (10 * torch.log10(1 / ((x_hat - x) ** 2).mean(dim=1))).mean()


def psnr_summed(x_hat, x, data_range=1.0):
    return (10 * torch.log10(data_range**2 / ((x_hat - x) ** 2).sum(dim=1))).mean()


def psnr_inverted(x_hat, x, data_range=1.0):
    return (10 * torch.log10(((x_hat - x) ** 2).mean(dim=1) / data_range**2)).mean()


def psnr_per_image(x_hat, x, data_range=1.0):
    return 10 * torch.log10(data_range**2 / ((x_hat - x) ** 2).mean(dim=1))


def psnr_per_pixel(x_hat, x, data_range=1.0):
    return 10 * torch.log10(data_range**2 / (x_hat - x) ** 2)


def psnr_mean_ratio(x_hat, x, data_range=1.0):
    return 10 * torch.log10((data_range**2 / ((x_hat - x) ** 2).mean(dim=1)).mean())


def test_psnr_reference_passes(capsys):
    checks.check_psnr(psnr)
    checks.check_psnr(psnr_rmse, seed=1, batch=5, d=100)
    assert "✓ psnr: 10 · log10(data_range² / MSE) per image" in capsys.readouterr().out


def test_psnr_check_reference_agrees_with_the_package_and_a_direct_computation():
    x_hat, x = torch.rand(6, 784), torch.rand(6, 784)
    direct = sum(10 * math.log10(1 / float(((a - b) ** 2).mean())) for a, b in zip(x_hat, x, strict=True)) / 6
    assert psnr(x_hat, x).item() == pytest.approx(direct, rel=1e-5)
    assert package_psnr(x_hat, x) == pytest.approx(direct, rel=1e-5)
    assert package_psnr(255 * x_hat, 255 * x, data_range=255) == pytest.approx(direct, rel=1e-5)
    checks.check_psnr(lambda x_hat, x, data_range=1.0: package_psnr(x_hat, x, data_range=data_range))


@pytest.mark.parametrize("answer, fragment", [
    (psnr_batch_mse, "averaged the squared error over the whole batch before the log"),
    (psnr_ln, "used the natural log"),
    (psnr_no_ten, "left out the factor 10"),
    (psnr_twenty, "used 20 · log10 with the MSE"),
    (psnr_range_not_squared, "forgot to square data_range"),
    (psnr_ignores_range, "ignored data_range"),
    (psnr_summed, "summed the squared error over the pixels"),
    (psnr_inverted, "inverted the ratio"),
    (psnr_per_image, "returned one PSNR per image, shape (B,)"),
    (psnr_per_pixel, "returned a value per pixel"),
    (psnr_mean_ratio, "averaged the ratios R² / MSE before taking the log"),
])
def test_psnr_mistakes_are_named(answer, fragment):
    rejects(checks.check_psnr, answer, fragment)


def test_psnr_stub_types_and_in_place():
    def stub(x_hat, x, data_range=1.0):
        raise NotImplementedError()

    def clamps_in_place(x_hat, x, data_range=1.0):
        x_hat.clamp_(0, data_range / 2)
        return psnr(x_hat, x, data_range)

    rejects(checks.check_psnr, stub, "not written yet")
    rejects(checks.check_psnr, clamps_in_place, "changed its input `x_hat` in place")
    rejects(checks.check_psnr, lambda x_hat, x, data_range=1.0: "20 dB", "returned str")
    rejects(checks.check_psnr, lambda x_hat, x, data_range=1.0: psnr(x_hat, x, data_range) + 1,
            "wrong values")


# ---------------------------------------------------------------- the package's corruptions


def test_the_references_draw_what_the_package_draws_and_the_package_passes():
    """The checks' references use the global RNG in the same order as aecourse.corruption."""
    x = torch.rand(50, 784)
    for ours, theirs, level in [(gaussian_noise, corruption.gaussian_noise, 0.3),
                                (mask_pixels, corruption.mask_pixels, 0.3),
                                (salt_and_pepper, corruption.salt_and_pepper, 0.2)]:
        torch.manual_seed(0)
        expected = ours(x, level)
        torch.manual_seed(0)
        assert torch.equal(theirs(x, level), expected)
    checks.check_gaussian_noise(corruption.gaussian_noise)
    checks.check_mask_pixels(corruption.mask_pixels)
    checks.check_salt_and_pepper(corruption.salt_and_pepper)
