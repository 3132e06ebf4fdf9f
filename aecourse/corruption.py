"""Corruptions for denoising autoencoders (lesson 04): Gaussian noise, masking, salt and pepper.

Each takes images in [0, 1] of any shape, returns a new corrupted tensor in [0, 1]
(the input is never modified) and draws its randomness from `generator` when one is
given, else from torch's global generator (so aecourse.set_seed makes runs repeatable).
"""

from __future__ import annotations

import torch


def _images(x, name: str) -> torch.Tensor:
    """Return x checked to be a floating tensor with values in [0, 1]."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        got = f"a tensor of {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(f"{name} expects images as a floating torch.Tensor in [0, 1]; got {got}. "
                        "Fix: torch.as_tensor(x, dtype=torch.float32) / 255 for 8-bit images")
    if x.numel():
        lo, hi = float(x.min()), float(x.max())
        if lo < 0 or hi > 1:
            raise ValueError(f"{name} expects pixel values in [0, 1]; got values in [{lo:.3g}, {hi:.3g}]. "
                             "Fix: scale the images to [0, 1] first (aecourse.load_mnist does)")
    return x


def _fraction(value: float, name: str, what: str) -> float:
    if not 0 <= value <= 1:
        raise ValueError(f"{name} needs {what} between 0 and 1 (a probability per pixel); got {value}")
    return float(value)


def _uniform(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def gaussian_noise(x: torch.Tensor, noise_factor: float = 0.5,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Return clip(x + noise_factor * N(0, 1), 0, 1): additive Gaussian noise, clipped to the pixel range."""
    x = _images(x, "gaussian_noise")
    if noise_factor < 0:
        raise ValueError(f"gaussian_noise needs noise_factor >= 0 (the noise's standard deviation); got {noise_factor}")
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (x + noise_factor * noise).clamp(0, 1)


def mask_pixels(x: torch.Tensor, fraction: float = 0.25,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Return x with each pixel set to 0 independently with probability `fraction` (masking noise)."""
    x = _images(x, "mask_pixels")
    fraction = _fraction(fraction, "mask_pixels", "fraction")
    keep = _uniform(x, generator) >= fraction
    return x * keep


def salt_and_pepper(x: torch.Tensor, fraction: float = 0.1,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Return x with each pixel hit independently with probability `fraction`, then set to 0 or 1 (even odds)."""
    x = _images(x, "salt_and_pepper")
    fraction = _fraction(fraction, "salt_and_pepper", "fraction")
    hit = _uniform(x, generator) < fraction
    salt = (_uniform(x, generator) < 0.5).to(x.dtype)
    return torch.where(hit, salt, x)


CORRUPTIONS = {"gaussian": gaussian_noise, "masking": mask_pixels, "salt and pepper": salt_and_pepper}
