"""Checks for exercises 04 (denoising): the corruptions by their draws or statistics, and PSNR.

A corruption is random, so its check runs the answer under a fixed seed of the global RNG and
compares it with the reference drawn the same way (torch.randn_like / torch.rand_like). An answer
that draws its randomness differently is not wrong for that: it is then checked by what it does
to a large batch (range, the share of pixels corrupted, the noise's mean and spread, untouched
pixels left alone, a new draw on every call).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .core import Mistakes, call, close, diagnose, expect_tensor, fail, passed, seeded

__all__ = ["check_gaussian_noise", "check_mask_pixels", "check_salt_and_pepper", "check_psnr"]  # what aecourse.checks exports from here


def _inputs(seed: int, n: int, d: int, lo: float = 0.05, hi: float = 0.95) -> torch.Tensor:
    """Return (n, d) pixel values in [lo, hi]: no exact 0 or 1, so every change can be seen."""
    return lo + (hi - lo) * torch.rand(n, d, generator=torch.Generator().manual_seed(seed))


def _run(name: str, fn: Callable, seed: int, x: torch.Tensor, level: float, level_name: str) -> torch.Tensor:
    """Return fn(x, level) drawn under torch.manual_seed(seed), checked to be a float tensor like x."""
    out = seeded(seed, lambda: call(name, fn, x=x, **{level_name: level}))
    if isinstance(out, torch.Tensor) and out.dtype == torch.bool:
        fail(name, "returned a bool tensor (the mask?); return the corrupted images, a float tensor like x")
    out = expect_tensor(name, out, tuple(x.shape))
    if not out.is_floating_point():
        fail(name, f"returned a {out.dtype} tensor; return floating-point images like x ({x.dtype})")
    if not torch.isfinite(out).all():
        fail(name, f"returned NaN or inf in {int((~torch.isfinite(out)).sum())} of {out.numel()} pixels")
    return out


def _in_range(name: str, out: torch.Tensor, fix: str) -> None:
    lo, hi = out.min().item(), out.max().item()
    if lo < 0 or hi > 1:
        fail(name, f"returned values in [{lo:.3g}, {hi:.3g}], outside the pixel range [0, 1]; {fix}")


def _tolerance(p: float, count: int) -> float:
    """Return a tolerance for a share p measured on `count` draws: 6 standard errors, at least 0.01."""
    return max(0.01, 6 * math.sqrt(max(p * (1 - p), 1e-4) / count))


def _named(name: str, out: torch.Tensor, mistakes: Mistakes, where: str) -> None:
    """Fail with the message of the first known mistake that out equals (drawn with the reference's numbers)."""
    for message, make in mistakes:
        try:
            with torch.no_grad():
                wrong = make()
        except Exception:
            continue  # this mistake cannot be made with these inputs
        if close(out, wrong, 1e-5, 1e-5):
            fail(name, f"{message} (seen {where})")


def _fresh(name: str, fn: Callable, seed: int, x: torch.Tensor, level: float, level_name: str) -> None:
    """Fail if two calls (under different seeds) return the same corruption."""
    a = seeded(seed, lambda: call(name, fn, x=x, **{level_name: level}))
    b = seeded(seed + 1, lambda: call(name, fn, x=x, **{level_name: level}))
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b):
        fail(name, "returned the same corruption on two calls: it must draw new random numbers on every "
                   "call (do not seed or reuse a torch.Generator inside the function), or the "
                   "autoencoder sees one fixed corruption of each image, epoch after epoch")


def _same_pattern(name: str, changed: torch.Tensor) -> None:
    """Fail if every image has the same pixels changed, or each image is changed all or nothing."""
    per_image = changed.float().mean(dim=1)
    if len(changed) > 1 and changed.any() and (changed == changed[0]).all():
        fail(name, "corrupted the same pixels in every image: draw one random number per pixel of every "
                   "image, e.g. torch.rand_like(x), not one per pixel position")
    if ((per_image == 0) | (per_image == 1)).float().mean() > 0.9:
        fail(name, "corrupted whole images, all or none of their pixels: draw one random number per "
                   "pixel, e.g. torch.rand_like(x) (shape (N, D)), not one per image")


# ---------------------------------------------------------------- 4.1 additive Gaussian noise


def check_gaussian_noise(fn, seed: int = 0, n: int = 64, d: int = 784, noise_factor: float = 0.5) -> None:
    """Check gaussian_noise(x, noise_factor): (x + noise_factor · N(0, 1)).clamp(0, 1), a new tensor (lesson 04)."""
    name, s = getattr(fn, "__name__", "gaussian_noise"), noise_factor
    x = _inputs(seed, n, d, 0.0, 1.0)
    out = _run(name, fn, seed, x, s, "noise_factor")
    eps = seeded(seed, lambda: torch.randn_like(x))  # the reference's draws
    ref = (x + s * eps).clamp(0, 1)
    if not close(out, ref, 1e-5, 1e-5):
        mistakes = [
            ("did not clip: values leave [0, 1]; clip the noisy image with .clamp(0, 1)", lambda: x + s * eps),
            ("drew uniform noise with torch.rand_like (values in [0, 1), mean 0.5); Gaussian noise with "
             "mean 0 and standard deviation 1 is torch.randn_like(x)",
             lambda: seeded(seed, lambda: (x + s * torch.rand_like(x)).clamp(0, 1))),
            (f"left out noise_factor: the noise must be noise_factor · ε = {s} · ε, not ε",
             lambda: (x + eps).clamp(0, 1)),
            ("scaled the noise by noise_factor²: noise_factor is the standard deviation, multiply ε by it "
             "once", lambda: (x + s**2 * eps).clamp(0, 1)),
            ("multiplied x by the noise; additive noise is x + noise_factor · ε",
             lambda: (x * s * eps).clamp(0, 1)),
            ("multiplied x by (1 + noise_factor · ε); additive noise is x + noise_factor · ε",
             lambda: (x * (1 + s * eps)).clamp(0, 1)),
            ("returned the clipped noise alone; add it to the image: x + noise_factor · ε",
             lambda: (s * eps).clamp(0, 1)),
            ("rescaled the noisy batch to [0, 1] (min-max) instead of clipping it; clip with .clamp(0, 1)",
             lambda: ((x + s * eps) - (x + s * eps).min()) / ((x + s * eps).max() - (x + s * eps).min())),
        ]
        _named(name, out, mistakes, f"under torch.manual_seed({seed}), on a {n}×{d} batch")
        _in_range(name, out, "clip the noisy image with .clamp(0, 1)")
        _gaussian_statistics(name, fn, seed)
    _fresh(name, fn, seed, x, s, "noise_factor")
    passed(name, f"adds noise_factor · N(0, 1) noise and clips to [0, 1] (noise_factor = {s}, seed {seed})"
                 + ("" if close(out, ref, 1e-5, 1e-5) else "; your draws differ from torch.randn_like's, "
                    "so the check tested the noise's statistics instead"))


def _gaussian_statistics(name: str, fn: Callable, seed: int) -> None:
    """Check the noise on mid-grey images, where clipping is negligible: mean 0, spread noise_factor."""
    x, s = torch.full((200, 500), 0.5), 0.1  # clipping needs |noise| > 0.5 = 5 standard deviations
    out = _run(name, fn, seed, x, s, "noise_factor")
    noise = out.double() - x.double()
    mean, std = noise.mean().item(), noise.std().item()
    where = f"on 200×500 mid-grey images (all 0.5) with noise_factor = {s}"
    if std < 1e-6:
        fail(name, f"added no noise {where}: draw ε with torch.randn_like(x) and return x + noise_factor · ε")
    if abs(mean) > 0.01:
        fail(name, f"the noise has mean {mean:.3g} {where}, expected 0: draw ε ~ N(0, 1) with "
                   "torch.randn_like(x) (torch.rand_like is uniform on [0, 1), mean 0.5)")
    if abs(std / s - 1) > 0.03:
        fail(name, f"the noise has standard deviation {std:.3g} {where}, expected noise_factor = {s}: "
                   "multiply standard normal noise (torch.randn_like(x)) by noise_factor once")


# ---------------------------------------------------------------- 4.2 masking noise


def check_mask_pixels(fn, seed: int = 0, n: int = 64, d: int = 784, fraction: float = 0.3) -> None:
    """Check mask_pixels(x, fraction): each pixel set to 0 independently with probability fraction (lesson 04)."""
    name, p = getattr(fn, "__name__", "mask_pixels"), fraction
    x = _inputs(seed, n, d)
    out = _run(name, fn, seed, x, p, "fraction")
    u = seeded(seed, lambda: torch.rand_like(x))  # the reference's draws
    ref = x * (u >= p)
    if not close(out, ref, 1e-6, 1e-6):
        mistakes = [
            (f"zeroed a share 1 − fraction of the pixels and kept a share fraction: `fraction` (here {p}) "
             "is the share set to 0, so set a pixel to 0 where torch.rand_like(x) < fraction and keep it "
             "where the number is >= fraction", lambda: x * (u < p)),
            ("scaled the kept pixels by 1 / (1 − fraction), as dropout does; a corruption keeps the "
             "pixels it does not mask exactly as they are", lambda: x * (u >= p) / (1 - p)),
            ("set the masked pixels to 1; masking noise sets them to 0", lambda: torch.where(u < p, 1.0, x)),
            ("returned the mask (1 = kept, 0 = masked) instead of the masked image x · mask",
             lambda: (u >= p).float()),
        ]
        where = f"under torch.manual_seed({seed}), on a {n}×{d} batch, fraction = {p}"
        _named(name, out, mistakes, where)
        changed = out != x
        if (changed & (out != 0)).any():
            i = int((changed & (out != 0)).flatten().nonzero()[0])
            fail(name, f"changed a pixel that it did not mask ({x.flatten()[i]:.3g} became "
                       f"{out.flatten()[i]:.3g}) {where}: keep unmasked pixels exactly as they are "
                       "and set masked ones to 0 (F.dropout would rescale the kept ones)")
        _same_pattern(name, changed)
        _share(name, changed, p, where, "masked")
    _fresh(name, fn, seed, x, p, "fraction")
    passed(name, f"sets each pixel to 0 with probability {p} and leaves the others as they are (seed {seed})"
                 + ("" if close(out, ref, 1e-6, 1e-6) else "; your draws differ from torch.rand_like's, "
                    "so the check tested the share masked instead"))


def _share(name: str, changed: torch.Tensor, p: float, where: str, verb: str) -> None:
    got = changed.float().mean().item()
    if abs(got - p) <= _tolerance(p, changed.numel()):
        return
    if abs(got - (1 - p)) <= _tolerance(p, changed.numel()):
        fail(name, f"{verb} {got:.1%} of the pixels {where}, that is 1 − fraction: `fraction` is the share "
                   f"{verb}, so corrupt where torch.rand_like(x) < fraction")
    fail(name, f"{verb} {got:.1%} of the pixels {where}, expected about {p:.0%}: corrupt each pixel "
               "independently with probability fraction (torch.rand_like(x) < fraction)")


# ---------------------------------------------------------------- 4.3 salt and pepper


def check_salt_and_pepper(fn, seed: int = 0, n: int = 64, d: int = 784, fraction: float = 0.2) -> None:
    """Check salt_and_pepper(x, fraction): pixels corrupted with probability fraction, each to 0 or 1 (lesson 04)."""
    name, p = getattr(fn, "__name__", "salt_and_pepper"), fraction
    x = _inputs(seed, n, d)
    out = _run(name, fn, seed, x, p, "fraction")
    u, v = seeded(seed, lambda: (torch.rand_like(x), torch.rand_like(x)))  # the reference's draws
    ref = torch.where(u < p, (v < 0.5).to(x.dtype), x)
    if not close(out, ref, 1e-6, 1e-6):
        mistakes = [
            ("set every corrupted pixel to 1 (salt only); set each to 0 or 1 with equal probability",
             lambda: torch.where(u < p, 1.0, x)),
            ("set every corrupted pixel to 0, which is masking noise; set each to 0 or 1 with equal "
             "probability", lambda: torch.where(u < p, 0.0, x)),
            ("set the corrupted pixels to random grey values (torch.rand_like); salt and pepper sets each "
             "to exactly 0 or 1: (torch.rand_like(x) < 0.5).float()", lambda: torch.where(u < p, v, x)),
            (f"corrupted a share 1 − fraction of the pixels: `fraction` (here {p}) is the share corrupted",
             lambda: torch.where(u >= p, (v < 0.5).to(x.dtype), x)),
        ]
        where = f"under torch.manual_seed({seed}), on a {n}×{d} batch, fraction = {p}"
        _named(name, out, mistakes, where)
        _in_range(name, out, "salt is 1 and pepper is 0")
        changed = out != x
        odd = changed & (out != 0) & (out != 1)
        if odd.any():
            i = int(odd.flatten().nonzero()[0])
            fail(name, f"changed a pixel from {x.flatten()[i]:.3g} to {out.flatten()[i]:.3g} {where}: leave "
                       "uncorrupted pixels as they are and set corrupted ones to exactly 0 or 1")
        if changed.any() and abs(changed.float().mean().item() - (2 * p - p * p)) < 0.25 * abs(p - p * p):
            fail(name, f"corrupted {changed.float().mean():.1%} of the pixels {where}, about 2 × fraction: "
                       "did you draw salt and pepper with separate masks of probability fraction each? "
                       "Choose the corrupted pixels once (probability fraction), then 0 or 1 for each")
        _same_pattern(name, changed)
        _share(name, changed, p, where, "corrupted")
        salt = (out[changed] == 1).double().mean().item()
        if abs(salt - 0.5) > _tolerance(0.5, int(changed.sum())):
            fail(name, f"{salt:.0%} of the corrupted pixels are salt (1) and {1 - salt:.0%} pepper (0) "
                       f"{where}; each corrupted pixel is 0 or 1 with equal probability")
    _fresh(name, fn, seed, x, p, "fraction")
    passed(name, f"sets a share {p} of the pixels to 0 or 1, half each, the others untouched (seed {seed})"
                 + ("" if close(out, ref, 1e-6, 1e-6) else "; your draws differ from the reference's, "
                    "so the check tested their statistics instead"))


# ---------------------------------------------------------------- 4.4 PSNR


def _psnr_cases(seed: int, batch: int, d: int) -> list:
    """Return (where, x_hat, x, data_range, pass_range): images whose errors differ a lot between them."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, d, generator=g) ** 3  # mostly dark, like MNIST
    spread = torch.logspace(-2.5, -0.5, batch)[:, None]  # a noise level per image: PSNR from ~5 to ~50 dB
    x_hat = (x + spread * torch.randn(batch, d, generator=g)).clamp(0, 1)
    return [(f"on {batch} images of {d} pixels in [0, 1] (seed {seed})", x_hat, x, 1.0, False),
            (f"on the same images as 8-bit values in [0, 255] with data_range = 255 (seed {seed})",
             255 * x_hat, 255 * x, 255.0, True)]


def _psnr_case(name: str, fn: Callable, where: str, x_hat, x, r: float, pass_range: bool) -> None:
    batch = len(x)
    args = {"x_hat": x_hat, "x": x, "data_range": r} if pass_range else {"x_hat": x_hat, "x": x}
    raw = call(name, fn, **args)
    if isinstance(raw, (float, int)) and not isinstance(raw, bool):
        raw = torch.tensor(float(raw))
    out = expect_tensor(name, raw, (), {
        (batch,): "returned one PSNR per image, shape (B,); return their mean over the images (.mean())",
        tuple(x.shape): "returned a value per pixel; average the squared errors over the pixels of each "
                        "image (dim=1) to get its MSE, then PSNR per image, then the mean over images"})
    a, b = x_hat.double(), x.double()
    mse = ((a - b) ** 2).mean(dim=1)  # (B,) one MSE per image
    ref = (10 * torch.log10(r**2 / mse)).mean()
    mistakes = [
        ("averaged the squared error over the whole batch before the log; compute one MSE per image "
         "(.mean(dim=1)), its PSNR, then average the PSNRs", lambda: 10 * torch.log10(r**2 / mse.mean())),
        ("used the natural log (torch.log); decibels use log10: 10 · torch.log10(R² / MSE)",
         lambda: (10 * torch.log(r**2 / mse)).mean()),
        ("left out the factor 10: decibels are 10 · log10 of a power ratio",
         lambda: torch.log10(r**2 / mse).mean()),
        ("used 20 · log10 with the MSE: the factor 20 goes with amplitudes, 20 · log10(R / RMSE); with the "
         "MSE (a squared quantity) it is 10 · log10(R² / MSE)", lambda: (20 * torch.log10(r**2 / mse)).mean()),
        ("forgot to square data_range: PSNR = 10 · log10(data_range² / MSE)",
         lambda: (10 * torch.log10(r / mse)).mean()),
        ("ignored data_range (used a peak of 1): PSNR = 10 · log10(data_range² / MSE)",
         lambda: (10 * torch.log10(1 / mse)).mean()),
        ("summed the squared error over the pixels; PSNR uses the mean squared error of each image "
         "(.mean(dim=1))", lambda: (10 * torch.log10(r**2 / (mse * b.shape[1]))).mean()),
        ("inverted the ratio, so the sign is flipped: PSNR = 10 · log10(R² / MSE), peak over error",
         lambda: (10 * torch.log10(mse / r**2)).mean()),
        ("used 10 · log10 with the root mean squared error; use 10 · log10(R² / MSE) or "
         "20 · log10(R / RMSE)", lambda: (10 * torch.log10(r / mse.sqrt())).mean()),
        ("averaged the ratios R² / MSE before taking the log; take the log of each image's ratio, then "
         "average the PSNRs", lambda: 10 * torch.log10((r**2 / mse).mean())),
    ]
    diagnose(name, out, ref, mistakes, where, rtol=1e-4, atol=1e-3)


def check_psnr(fn, seed: int = 0, batch: int = 8, d: int = 784) -> None:
    """Check psnr(x_hat, x, data_range): 10 log10(R² / MSE) per image, averaged over images (lesson 04)."""
    name = getattr(fn, "__name__", "psnr")
    for case in _psnr_cases(seed, batch, d):
        _psnr_case(name, fn, *case)
    passed(name, f"10 · log10(data_range² / MSE) per image, averaged over the images, for data_range 1 "
                 f"and 255 ({batch} images, seed {seed})")
