"""aecourse.corruption: range, the fraction of pixels hit, noise size, repeatability, no change to the input."""

import pytest
import torch

from aecourse import corruption
from aecourse.corruption import CORRUPTIONS, gaussian_noise, mask_pixels, salt_and_pepper

GREY = torch.full((200, 1, 28, 28), 0.5)  # every pixel can visibly change in every direction


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_output_is_a_new_tensor_in_range_and_input_untouched(name):
    x = torch.rand(50, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    before = x.clone()
    out = CORRUPTIONS[name](x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1
    assert torch.equal(x, before) and not torch.equal(out, x)


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_a_generator_makes_the_corruption_repeatable(name):
    a = CORRUPTIONS[name](GREY, generator=torch.Generator().manual_seed(5))
    b = CORRUPTIONS[name](GREY, generator=torch.Generator().manual_seed(5))
    c = CORRUPTIONS[name](GREY, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_gaussian_noise_has_the_requested_size_before_clipping():
    out = gaussian_noise(GREY, noise_factor=0.1, generator=torch.Generator().manual_seed(1))
    assert abs(float((out - GREY).std()) - 0.1) < 0.002  # 0.5 +- 0.1 is almost never clipped
    clipped = gaussian_noise(GREY, noise_factor=0.5, generator=torch.Generator().manual_seed(1))
    assert 0.1 < float((clipped == 0).float().mean()) < 0.2  # P(N(0, 1) < -1) = 0.159
    assert torch.equal(gaussian_noise(GREY, noise_factor=0.0), GREY)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 1.0])
def test_masking_zeroes_the_requested_fraction(fraction):
    out = mask_pixels(GREY, fraction, generator=torch.Generator().manual_seed(2))
    hit = out != GREY
    assert abs(float(hit.float().mean()) - fraction) < 0.005
    assert (out[hit] == 0).all() and torch.equal(out[~hit], GREY[~hit])


@pytest.mark.parametrize("fraction", [0.0, 0.2, 1.0])
def test_salt_and_pepper_hits_the_fraction_with_even_odds(fraction):
    out = salt_and_pepper(GREY, fraction, generator=torch.Generator().manual_seed(3))
    hit = out != GREY
    assert abs(float(hit.float().mean()) - fraction) < 0.005
    if fraction:
        assert set(out[hit].unique().tolist()) == {0.0, 1.0}
        assert abs(float((out[hit] == 1).float().mean()) - 0.5) < 0.01


def test_bad_input_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"\[0, 1\].*scale"):
        gaussian_noise(GREY * 255)
    with pytest.raises(TypeError, match="floating.*255"):
        mask_pixels(torch.zeros(2, 784, dtype=torch.uint8))
    with pytest.raises(ValueError, match="between 0 and 1"):
        salt_and_pepper(GREY, fraction=1.5)
    with pytest.raises(ValueError, match="noise_factor >= 0"):
        gaussian_noise(GREY, noise_factor=-0.1)
    assert corruption.CORRUPTIONS["masking"] is mask_pixels
