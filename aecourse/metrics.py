"""Reconstruction metrics with explicit reductions: per image (summed over pixels) or per pixel."""

from __future__ import annotations

import torch


def _pair(x_hat, x) -> tuple[torch.Tensor, torch.Tensor]:
    """Return both as float tensors of shape (N, D), checking that they describe the same images."""
    x_hat, x = torch.as_tensor(x_hat), torch.as_tensor(x)
    if x_hat.dim() < 2 or x.dim() < 2 or len(x_hat) != len(x) or x_hat[0].numel() != x[0].numel():
        raise ValueError(f"expected x_hat and x to hold the same images, e.g. (N, 784) or "
                         f"(N, 1, 28, 28); got {tuple(x_hat.shape)} and {tuple(x.shape)}")
    return x_hat.reshape(len(x_hat), -1).float(), x.reshape(len(x), -1).to(x_hat.device).float()


def squared_error_per_image(x_hat, x) -> torch.Tensor:
    """Return (N,) squared errors, each summed over the pixels of one image."""
    x_hat, x = _pair(x_hat, x)
    return ((x_hat - x) ** 2).sum(dim=1)


def mse_per_pixel(x_hat, x) -> float:
    """Return the mean squared error averaged over pixels and images."""
    x_hat, x = _pair(x_hat, x)
    return float(((x_hat - x) ** 2).mean())


def psnr(x_hat, x, data_range: float = 1.0, per_image: bool = False):
    """Return PSNR in dB, 10 log10(range^2 / MSE), computed per image then averaged over images.

    With per_image=True the (N,) values are returned instead. A perfect image
    (MSE 0) has infinite PSNR, so it is capped at 100 dB.
    """
    x_hat, x = _pair(x_hat, x)
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > data_range:
        raise ValueError(f"x has values in [{lo:.3g}, {hi:.3g}], outside [0, data_range={data_range}]; "
                         "scale images to [0, 1] or pass data_range=255 for 8-bit images")
    mse = ((x_hat - x) ** 2).mean(dim=1)
    values = (10 * torch.log10(data_range**2 / mse)).clamp(max=100.0)
    return values if per_image else float(values.mean())

