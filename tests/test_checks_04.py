"""aecourse.checks for exercises 04: the reference answers pass, plausible mistakes are named."""

import math

import numpy as np
import pytest
import torch

from aecourse import checks, corruption
from aecourse.checks import lesson04
from check_helpers import rejects

# ---------------------------------------------------------------- 4.1 build: salt and pepper


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


def salt_and_pepper_above(x, fraction=0.1):  # hit above 1 - fraction, salt above 0.5: other draws, right
    hit = torch.rand_like(x) > 1 - fraction
    salt = torch.rand_like(x) > 0.5
    return torch.where(hit, salt.to(x.dtype), x)


def salt_and_pepper_bernoulli(x, fraction=0.1):  # torch.bernoulli, float64 maths, float32 result
    hit = torch.bernoulli(torch.full_like(x, fraction, dtype=torch.float64)).bool()
    salt = torch.bernoulli(torch.full_like(x, 0.5))
    return torch.where(hit, salt, x.double()).to(x.dtype)


def salt_and_pepper_cpu(x, fraction=0.1):  # draws on the CPU whatever x's device
    hit = torch.rand(x.shape) < fraction
    salt = (torch.rand(x.shape) < 0.5).float()
    return torch.where(hit, salt, x)


def salt_and_pepper_float64(x, fraction=0.1):
    hit = torch.rand_like(x) < fraction
    salt = (torch.rand_like(x) < 0.5).double()
    return torch.where(hit, salt, x)


def salt_and_pepper_shared_salt(x, fraction=0.1):  # salt or pepper decided once per pixel position
    hit = torch.rand_like(x) < fraction
    salt = (torch.rand_like(x[:1]) < 0.5).to(x.dtype).expand_as(x)
    return torch.where(hit, salt, x)


def salt_and_pepper_per_image(x, fraction=0.1):  # one draw per image: whole images corrupted or not
    hit = torch.rand_like(x[:, :1]) < fraction
    salt = (torch.rand_like(x) < 0.5).to(x.dtype)
    return torch.where(hit, salt, x)


def salt_and_pepper_seeded(x, fraction=0.1):  # the same corruption on every call
    g = torch.Generator().manual_seed(0)
    hit = torch.rand(x.shape, generator=g) < fraction
    return torch.where(hit, (torch.rand(x.shape, generator=g) < 0.5).to(x.dtype), x)


def test_salt_and_pepper_reference_passes(capsys):
    checks.check_salt_and_pepper(salt_and_pepper)
    checks.check_salt_and_pepper(salt_and_pepper, seed=4, n=100, d=64, fraction=0.05)
    out = capsys.readouterr().out
    assert "✓ salt_and_pepper: sets a share 0.2 of the pixels to 0 or 1" in out and "statistics" not in out


def test_salt_and_pepper_other_draws_pass_on_their_statistics(capsys):
    checks.check_salt_and_pepper(salt_and_pepper_one_draw)
    checks.check_salt_and_pepper(salt_and_pepper_one_draw, seed=1, fraction=0.4)
    checks.check_salt_and_pepper(salt_and_pepper_above, fraction=0.5)  # at 0.5 it draws like `u >= fraction`
    checks.check_salt_and_pepper(salt_and_pepper_above, seed=2, fraction=0.45)
    checks.check_salt_and_pepper(salt_and_pepper_bernoulli)
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
    (salt_and_pepper_cpu, "made a tensor on the CPU whatever the input's device"),
    (salt_and_pepper_float64, "returned float64 images for float32 input"),
    (salt_and_pepper_shared_salt, "one draw shared by the batch"),
    (salt_and_pepper_per_image, "corrupted whole images, all or none of their pixels"),
    (salt_and_pepper_seeded, "returned the same corruption on two calls"),
])
def test_salt_and_pepper_mistakes_are_named(answer, fragment):
    rejects(checks.check_salt_and_pepper, answer, fragment)


def test_salt_and_pepper_stub_and_shape():
    def stub(x, fraction=0.1):
        raise NotImplementedError()

    rejects(checks.check_salt_and_pepper, stub, "not written yet")
    rejects(checks.check_salt_and_pepper, lambda x, fraction: salt_and_pepper(x, fraction).flatten(),
            "returned shape (50176,), expected (64, 784)")


def test_the_salt_and_pepper_check_leaves_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks.check_salt_and_pepper(salt_and_pepper_one_draw)
    checks.check_salt_and_pepper(corruption.salt_and_pepper)
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------- 4.2 derive: the expected error of salt and pepper


def expected_mse(x, fraction=0.1):
    return (fraction * (x**2 + (1 - x) ** 2) / 2).mean(dim=1)


def expected_mse_expanded(x, fraction=0.1):  # x² + (1 − x)² = 1 − 2x + 2x², in float64, returned as float32
    xd = x.double()
    return (fraction * (0.5 - xd + xd**2)).mean(dim=1).to(x.dtype)


def expected_mse_loop(x, fraction=0.1):
    rows = [torch.stack([fraction * (0.5 * v**2 + 0.5 * (1 - v) ** 2) for v in image]).mean() for image in x]
    return torch.stack(rows)


def expected_mse_where(x, fraction=0.1):  # written as probabilities times errors
    p_pepper = p_salt = torch.full_like(x, fraction / 2)
    return (p_pepper * (0 - x) ** 2 + p_salt * (1 - x) ** 2).sum(dim=1) / x.shape[1]


def mse_no_fraction(x, fraction=0.1):
    return ((x**2 + (1 - x) ** 2) / 2).mean(dim=1)


def mse_no_half(x, fraction=0.1):
    return (fraction * (x**2 + (1 - x) ** 2)).mean(dim=1)


def mse_pepper_only(x, fraction=0.1):
    return (fraction * x**2).mean(dim=1)


def mse_salt_only(x, fraction=0.1):
    return (fraction * (1 - x) ** 2 / 2).mean(dim=1)


def mse_summed(x, fraction=0.1):
    return (fraction * (x**2 + (1 - x) ** 2) / 2).sum(dim=1)


def mse_mid_grey(x, fraction=0.1):
    return (fraction * (x - 0.5) ** 2).mean(dim=1)


def mse_mean_first(x, fraction=0.1):
    m = x.mean(dim=1)
    return fraction * (m**2 + (1 - m) ** 2) / 2


def mse_untouched_share(x, fraction=0.1):
    return ((1 - fraction) * (x**2 + (1 - x) ** 2) / 2).mean(dim=1)


def mse_batch_mean(x, fraction=0.1):
    return expected_mse(x, fraction).mean()


def mse_per_pixel(x, fraction=0.1):
    return fraction * (x**2 + (1 - x) ** 2) / 2


def mse_float64(x, fraction=0.1):
    return expected_mse(x.double(), fraction)


def mse_cpu_full(x, fraction=0.1):
    p = torch.full(x.shape, fraction)
    return (p * (x**2 + (1 - x) ** 2) / 2).mean(dim=1)


def mse_abs(x, fraction=0.1):
    return (fraction * (x.abs() + (1 - x).abs()) / 2).mean(dim=1)


def mse_by_simulation(x, fraction=0.1):  # a Monte Carlo estimate, not the expectation
    draws = torch.stack([(corruption.salt_and_pepper(x, fraction) - x) ** 2 for _ in range(20)])
    return draws.mean(dim=(0, 2))


def test_expected_mse_reference_matches_many_draws():
    x = lesson04._mse_inputs(0, 4, 784)
    torch.manual_seed(0)
    draws = torch.stack([((corruption.salt_and_pepper(x, 0.3) - x) ** 2).mean(dim=1) for _ in range(2000)])
    torch.testing.assert_close(draws.mean(dim=0), lesson04.expected_mse_reference(x, 0.3), rtol=0.02, atol=1e-4)


def test_expected_mse_correct_answers_pass(capsys):
    checks.check_expected_mse(expected_mse)
    checks.check_expected_mse(expected_mse_expanded, seed=1, batch=20, d=784, fraction=0.1)
    checks.check_expected_mse(expected_mse_loop, seed=2, batch=3, d=17, fraction=0.05)
    checks.check_expected_mse(expected_mse_where)
    assert "✓ expected_mse: equals fraction · mean_j (x_j² + (1 − x_j)²) / 2" in capsys.readouterr().out


@pytest.mark.parametrize("answer, fragment", [
    (mse_no_fraction, "left out the probability fraction"),
    (mse_no_half, "left out the 1/2 of the even odds"),
    (mse_pepper_only, "counted only pepper"),
    (mse_salt_only, "counted only salt"),
    (mse_summed, "summed over the pixels"),
    (mse_mid_grey, "squared the error of the mean value"),
    (mse_mean_first, "squared each image's mean pixel value"),
    (mse_untouched_share, "used 1 − fraction"),
    (mse_batch_mean, "returned one number for the whole batch"),
    (mse_per_pixel, "returned one value per pixel"),
    (mse_float64, "returned float64, expected float32"),
    (mse_cpu_full, "made a tensor on the CPU whatever the input's device"),
    (mse_abs, "used absolute errors"),
    (mse_by_simulation, "wrong values on 6 images of 50 pixels"),
])
def test_expected_mse_mistakes_are_named(answer, fragment):
    rejects(checks.check_expected_mse, answer, fragment)


def test_expected_mse_stub():
    def expected_mse(x, fraction=0.1):
        raise NotImplementedError()
    rejects(checks.check_expected_mse, expected_mse, "not written yet")


# ---------------------------------------------------------------- 4.3 predict: a denoiser at other noise levels


def test_prediction_4_3_explains_every_letter(capsys):
    checks.check_prediction_4_3("b")
    assert "B is right" in capsys.readouterr().out
    for letter in "ACD":
        message = rejects(checks.check_prediction_4_3, letter, f"{letter} is not what happens")
        assert lesson04.WHY_4_3[letter] in message
    rejects(checks.check_prediction_4_3, None, "not written yet")
    rejects(checks.check_prediction_4_3, "F", "expected one letter")
    rejects(checks.check_prediction_4_3, 0.1, "expected one letter")
    rejects(checks.check_prediction_4_3, "A, B", "expected one letter")


# ---------------------------------------------------------------- 4.4 experiment: a learning rate for the budget


@pytest.fixture
def fake_training(monkeypatch):
    """Replace training and measuring by a stand-in whose PSNR peaks at lr = 0.01 (the real run takes a minute)."""
    monkeypatch.setenv("AECOURSE_MODE", "standard")  # the standard target (CI runs in smoke mode)
    calls = []

    def fake(lr):
        if not lesson04._valid_lr(lr):
            raise ValueError("lr")
        calls.append(lr)
        return {"input": 12.6, "output": lesson04.TARGET_4_4 + 0.5 - 2 * math.log10(lr / 0.01) ** 2}

    monkeypatch.setattr(lesson04, "masked_psnr_4_4", fake)
    return calls


@pytest.mark.parametrize("lr", [0.01, 1e-2, torch.tensor(0.01), np.float64(0.01), 0.015])
def test_lr_4_4_accepts_a_rate_that_reaches_the_target(fake_training, lr, capsys):
    checks.check_lr_4_4(lr)
    out = capsys.readouterr().out
    assert "✓ lr_4_4:" in out and "reached" in out and "standard mode" in out


@pytest.mark.parametrize("lr, fragments", [
    (0.001, ("with lr = 0.001, the denoiser reaches", "1.50 dB short", "the target (standard mode)")),
    (0.0001, ("with lr = 0.0001", "dB short")),
    (0.3, ("with lr = 0.3", "dB short")),
    (1.0, ("with lr = 1", "dB short")),
    (0.002, ("with lr = 0.002", "0.48 dB short")),
    (0.05, ("with lr = 0.05", "dB short")),
])
def test_lr_4_4_rejects_weak_settings_with_the_distance(fake_training, lr, fragments):
    rejects(checks.check_lr_4_4, lr, *fragments)


@pytest.mark.parametrize("lr, fragment", [
    (None, "not written yet"),
    (0.0, "lr = 0 is not a usable learning rate"),
    (-0.01, "lr = -0.01 is not a usable learning rate"),
    (5.0, "lr = 5 is not a usable learning rate"),
    (float("inf"), "expected one number for the learning rate, got inf"),
    ("0.01", "expected one number for the learning rate, got '0.01'"),
    (True, "expected one number for the learning rate, got True"),
])
def test_lr_4_4_rejects_what_is_not_a_learning_rate(fake_training, lr, fragment):
    rejects(checks.check_lr_4_4, lr, fragment)
    assert fake_training == []  # nothing was trained


def test_lr_4_4_smoke_mode_trains_for_real_and_names_its_target(monkeypatch, capsys):
    monkeypatch.setenv("AECOURSE_MODE", "smoke")
    result = lesson04.masked_psnr_4_4(0.03)
    assert 5 < result["input"] < result["output"] < 40
    checks.check_lr_4_4(0.03)  # the solution's learning rate passes smoke mode's target
    assert f"the target (smoke mode) is {lesson04.SMOKE_TARGET_4_4:.1f} dB" in capsys.readouterr().out
