import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aecourse import metrics


@pytest.fixture
def pair():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 1, 28, 28, generator=g)
    x_hat = (x + 0.1 * torch.randn(6, 1, 28, 28, generator=g)).clamp(0, 1)
    return x_hat, x


def test_squared_error_per_image_sums_over_pixels(pair):
    x_hat, x = pair
    per_image = metrics.squared_error_per_image(x_hat, x)
    assert per_image.shape == (6,)
    expected = F.mse_loss(x_hat.flatten(1), x.flatten(1), reduction="none").sum(dim=1)
    torch.testing.assert_close(per_image, expected)


def test_mse_per_pixel_matches_torch(pair):
    x_hat, x = pair
    assert metrics.mse_per_pixel(x_hat, x) == pytest.approx(F.mse_loss(x_hat, x).item(), rel=1e-6)
    # Flat and image layouts describe the same images.
    assert metrics.mse_per_pixel(x_hat.reshape(6, 784), x) == pytest.approx(
        metrics.mse_per_pixel(x_hat, x), rel=1e-6)
    # The two reductions differ exactly by the number of pixels.
    assert metrics.squared_error_per_image(x_hat, x).mean().item() == pytest.approx(
        784 * metrics.mse_per_pixel(x_hat, x), rel=1e-5)


def test_psnr_definition(pair):
    x_hat, x = pair
    per_image = metrics.psnr(x_hat, x, per_image=True)
    mse = ((x_hat - x) ** 2).flatten(1).mean(1)
    torch.testing.assert_close(per_image, 10 * torch.log10(1.0 / mse))
    assert metrics.psnr(x_hat, x) == pytest.approx(per_image.mean().item(), rel=1e-6)
    # A known value: a constant error of 0.1 is 20 dB.
    assert metrics.psnr(torch.full((2, 4), 0.6), torch.full((2, 4), 0.5)) == pytest.approx(20.0, rel=1e-4)
    # 8-bit images with data_range=255 give the same PSNR as the scaled ones.
    assert metrics.psnr(x_hat * 255, x * 255, data_range=255.0) == pytest.approx(
        metrics.psnr(x_hat, x), rel=1e-4)
    assert metrics.psnr(x, x) == 100.0 and math.isfinite(metrics.psnr(x, x))


def test_metrics_accept_numpy(pair):
    x_hat, x = pair
    assert metrics.mse_per_pixel(x_hat.numpy(), x.numpy()) == pytest.approx(
        metrics.mse_per_pixel(x_hat, x), rel=1e-6)
    assert isinstance(metrics.psnr(np.asarray(x_hat), np.asarray(x)), float)


def test_shape_mismatch_is_explained(pair):
    x_hat, x = pair
    with pytest.raises(ValueError, match=r"got \(6, 700\) and \(6, 1, 28, 28\)"):
        metrics.mse_per_pixel(x_hat.reshape(6, 784)[:, :700], x)
    with pytest.raises(ValueError, match="same images"):
        metrics.squared_error_per_image(x_hat[:5], x)


def test_psnr_rejects_unscaled_images(pair):
    x_hat, x = pair
    with pytest.raises(ValueError, match=r"outside \[0, data_range=1.0\].*data_range=255"):
        metrics.psnr(x_hat * 255, x * 255)
