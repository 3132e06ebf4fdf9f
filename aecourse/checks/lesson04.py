"""Checks for exercises 04 (denoising): salt and pepper, its expected error, a prediction and an experiment.

A corruption is random, so its check runs the answer under a fixed seed of the global RNG and
compares it with the reference drawn the same way (torch.randn_like / torch.rand_like). An answer
that draws its randomness differently is not wrong for that: it is then checked by what it does
to a large batch (range, the share of pixels corrupted, the noise's mean and spread, untouched
pixels left alone, a new draw on every call).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
from torch import nn

from ..config import get_mode, pick
from ..data import load_mnist
from .core import (
    Mistakes,
    call,
    check_choice,
    check_device,
    close,
    diagnose,
    expect_tensor,
    fail,
    passed,
    require_answer,
    seeded,
    validation_digits,
)

__all__ = ["check_salt_and_pepper", "check_expected_mse", "check_prediction_4_3",
           "check_lr_4_4"]  # what aecourse.checks exports from here


def _inputs(seed: int, n: int, d: int, lo: float = 0.05, hi: float = 0.95) -> torch.Tensor:
    """Return (n, d) pixel values in [lo, hi]: no exact 0 or 1, so every change can be seen."""
    return lo + (hi - lo) * torch.rand(n, d, generator=torch.Generator().manual_seed(seed))


def _run(name: str, fn: Callable, seed: int, x: torch.Tensor, level: float, level_name: str) -> torch.Tensor:
    """Return fn(x, level) drawn under torch.manual_seed(seed), checked to be a float tensor like x."""
    out = seeded(seed, lambda: call(name, fn, x=x, **{level_name: level}))
    if isinstance(out, torch.Tensor) and out.dtype == torch.bool:
        fail(name, "returned a bool tensor (the mask?); return the corrupted images, a float tensor like x")
    if isinstance(out, torch.Tensor) and out.is_floating_point() and out.dtype != x.dtype:
        fail(name, f"returned {str(out.dtype).removeprefix('torch.')} images for {str(x.dtype).removeprefix('torch.')} "
                   "input: a float32 network would reject them. Keep x's dtype (look for `.double()`, a float64 "
                   "constant tensor, or `.to(torch.float64)`: use `.to(x.dtype)`)")
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


def _share(name: str, changed: torch.Tensor, p: float, where: str, verb: str) -> None:
    got = changed.float().mean().item()
    if abs(got - p) <= _tolerance(p, changed.numel()):
        return
    if abs(got - (1 - p)) <= _tolerance(p, changed.numel()):
        fail(name, f"{verb} {got:.1%} of the pixels {where}, that is 1 − fraction: `fraction` is the share "
                   f"{verb}, so corrupt where torch.rand_like(x) < fraction")
    fail(name, f"{verb} {got:.1%} of the pixels {where}, expected about {p:.0%}: corrupt each pixel "
               "independently with probability fraction (torch.rand_like(x) < fraction)")


# ---------------------------------------------------------------- 4.1 build: salt and pepper


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
        ]
        if abs(p - 0.5) > 0.1:  # at fraction near 0.5, `u > 1 - fraction` is a right answer that draws like this
            mistakes.append((f"corrupted a share 1 − fraction of the pixels: `fraction` (here {p}) is the share "
                             "corrupted", lambda: torch.where(u >= p, (v < 0.5).to(x.dtype), x)))
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
        _salt_shared(name, out, changed, where)
        salt = (out[changed] == 1).double().mean().item()
        if abs(salt - 0.5) > _tolerance(0.5, int(changed.sum())):
            fail(name, f"{salt:.0%} of the corrupted pixels are salt (1) and {1 - salt:.0%} pepper (0) "
                       f"{where}; each corrupted pixel is 0 or 1 with equal probability")
    _fresh(name, fn, seed, x, p, "fraction")
    check_device(name, fn, x=x, fraction=p)
    passed(name, f"sets a share {p} of the pixels to 0 or 1, half each, the others untouched (seed {seed})"
                 + ("" if close(out, ref, 1e-6, 1e-6) else "; your draws differ from the reference's, "
                    "so the check tested their statistics instead"))




def _salt_shared(name: str, out: torch.Tensor, changed: torch.Tensor, where: str) -> None:
    """Fail if the choice between salt and pepper at a pixel is the same in every image."""
    both = changed[:-1] & changed[1:]  # the pixel is corrupted in an image and in the next one
    if int(both.sum()) >= 50:
        agree = (out[:-1][both] == out[1:][both]).double().mean().item()
        if agree > 0.9:
            fail(name, f"where a pixel is corrupted in two neighbouring images it is salt in both or pepper in "
                       f"both {agree:.0%} of the time {where}, expected about 50 %: the choice between 0 and 1 is "
                       "drawn once for every image alike (one draw shared by the batch). Draw it per pixel of "
                       "every image, torch.rand_like(x)")


# ---------------------------------------------------------------- 4.2 derive: the expected error of salt and pepper


def expected_mse_reference(x: torch.Tensor, fraction: float) -> torch.Tensor:
    """Return E[MSE(salt_and_pepper(x), x)] per image, (B,): fraction · mean_j (x_j² + (1 − x_j)²) / 2."""
    xd = x.double()
    return (fraction * (xd**2 + (1 - xd) ** 2) / 2).mean(dim=1).to(x.dtype)


def _mse_inputs(seed: int, batch: int, d: int) -> torch.Tensor:
    """Return (batch, d) images in [0, 1], mostly dark like MNIST, with a different brightness per image."""
    g = torch.Generator().manual_seed(seed)
    bright = torch.linspace(0.2, 0.9, batch)[:, None]
    return (torch.rand(batch, d, generator=g) ** 3 * bright / 0.9).clamp(0, 1)


def check_expected_mse(fn, seed: int = 0, batch: int = 6, d: int = 50, fraction: float = 0.3) -> None:
    """Check expected_mse(x, fraction) = E[MSE] of salt and pepper per image, fraction·mean((x² + (1 − x)²) / 2) (lesson 04)."""
    name, p = getattr(fn, "__name__", "expected_mse"), fraction
    x = _mse_inputs(seed, batch, d)
    where = f"on {batch} images of {d} pixels in [0, 1], fraction = {p} (seed {seed})"
    raw = call(name, fn, x=x, fraction=p)
    if isinstance(raw, (float, int)) and not isinstance(raw, bool):
        fail(name, "returned one Python number; return one expected MSE per image, a tensor of shape (B,)")
    out = expect_tensor(name, raw, (batch,), {
        (): "returned one number for the whole batch; return one expected MSE per image, shape (B,) (average "
            "over the pixels of each image, dim=1, not over the batch)",
        (batch, d): "returned one value per pixel; average over the pixels of each image (dim=1) to get its MSE",
        (d,): "returned one value per pixel position, averaged over the images; average over the pixels of "
              "each image instead (dim=1)"}, dtype=x.dtype)
    xd = x.double()
    ref = expected_mse_reference(xd, p)
    pep, salt = xd**2, (1 - xd) ** 2  # squared error of a pepper (0) and of a salt (1) pixel
    mistakes = [
        ("left out the probability fraction that a pixel is corrupted: an untouched pixel has no error, so "
         "the expected error per pixel is fraction × (error if corrupted)", lambda: ((pep + salt) / 2).mean(dim=1)),
        ("left out the 1/2 of the even odds between salt and pepper: a corrupted pixel is 0 with probability "
         "1/2 (error x²) and 1 with probability 1/2 (error (1 − x)²)", lambda: (p * (pep + salt)).mean(dim=1)),
        ("counted only pepper (error x² when a pixel becomes 0); a corrupted pixel becomes 1 half the time, "
         "with error (1 − x)²", lambda: (p * pep).mean(dim=1)),
        ("counted only pepper (error x² when a pixel becomes 0); a corrupted pixel becomes 1 half the time, "
         "with error (1 − x)²", lambda: (p * pep / 2).mean(dim=1)),
        ("counted only salt (error (1 − x)² when a pixel becomes 1); a corrupted pixel becomes 0 half the "
         "time, with error x²", lambda: (p * salt).mean(dim=1)),
        ("counted only salt (error (1 − x)² when a pixel becomes 1); a corrupted pixel becomes 0 half the "
         "time, with error x²", lambda: (p * salt / 2).mean(dim=1)),
        ("summed over the pixels; the MSE is the mean over the D pixels of each image",
         lambda: (p * (pep + salt) / 2).sum(dim=1)),
        ("squared the error of the mean value: the average of 0 and 1 is 1/2, but the expected squared "
         "error is the average of the two squared errors, (x² + (1 − x)²) / 2, not (x − 1/2)²",
         lambda: (p * (xd - 0.5) ** 2).mean(dim=1)),
        ("squared each image's mean pixel value instead of averaging the squared errors of its pixels: "
         "the mean of x² is not the square of the mean of x",
         lambda: p * (xd.mean(dim=1) ** 2 + (1 - xd.mean(dim=1)) ** 2) / 2),
        ("used fraction² (the chance that a pixel is hit twice?); each pixel is corrupted once, with "
         "probability fraction", lambda: (p**2 * (pep + salt) / 2).mean(dim=1)),
        ("used 1 − fraction, the share of pixels left untouched, which have no error; use fraction",
         lambda: ((1 - p) * (pep + salt) / 2).mean(dim=1)),
        ("used absolute errors |x − b|; the MSE averages squared errors",
         lambda: (p * (xd + (1 - xd)) / 2).mean(dim=1)),
    ]
    diagnose(name, out, ref, mistakes, where, rtol=1e-4, atol=1e-7)
    check_device(name, fn, x=x, fraction=p)
    passed(name, f"equals fraction · mean_j (x_j² + (1 − x_j)²) / 2 for every image ({batch} images, "
                 f"fraction = {p}, seed {seed})")


# ---------------------------------------------------------------- 4.3 predict: a denoiser at other noise levels


def dae_budget() -> dict:
    """Return the training budget of the small denoising autoencoders of 4.3 and 4.4 in the current mode."""
    return {"n_train": pick(smoke=1_000, standard=5_000, full=5_000), "epochs": pick(smoke=1, standard=3, full=3),
            "hidden": 256, "batch_size": 100, "n_val": pick(smoke=300, standard=1_000, full=1_000)}


def _dae_data() -> tuple[torch.Tensor, torch.Tensor]:
    """Return (training images, held-out validation images), flattened (N, 784), the same for every learner."""
    b = dae_budget()
    x_train, _ = load_mnist("train")
    return x_train[: b["n_train"]].flatten(1), validation_digits(b["n_val"])


@functools.lru_cache(maxsize=16)
def _train_dae(kind: str, level: float, mode: str, lr: float = 2e-3, seed: int = 0) -> nn.Module:
    """Train the small 784-256-784 denoiser on `kind` noise ("gaussian" or "mask") at `level` with Adam at lr."""
    b = dae_budget()
    x_train, _ = _dae_data()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(784, b["hidden"]), nn.ReLU(), nn.Linear(b["hidden"], 784), nn.Sigmoid())
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        for _ in range(b["epochs"]):
            for idx in torch.randperm(len(x_train)).split(b["batch_size"]):
                x = x_train[idx]
                if kind == "gaussian":
                    x_tilde = (x + level * torch.randn_like(x)).clamp(0, 1)
                else:
                    x_tilde = x * (torch.rand_like(x) >= level)
                loss = ((model(x_tilde) - x) ** 2).sum(dim=1).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    model.eval()
    return model


def _psnr(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    return (10 * torch.log10(1 / ((x_hat - x) ** 2).mean(dim=1).clamp(min=1e-10))).mean().item()


NOISE_LEVELS_4_3 = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)


def noise_sweep_4_3(levels=NOISE_LEVELS_4_3) -> dict:
    """Return {s: (PSNR of the noisy input, PSNR of the output)} for the denoiser trained at s = 0.5 (lesson 04).

    The images are held-out validation digits with one fixed noise pattern, scaled by each noise factor s.
    """
    model = _train_dae("gaussian", 0.5, get_mode())
    _, x_val = _dae_data()
    eps = torch.randn(x_val.shape, generator=torch.Generator().manual_seed(1))
    out = {}
    with torch.no_grad():
        for s in levels:
            x_noisy = (x_val + s * eps).clamp(0, 1)
            out[s] = (_psnr(x_noisy, x_val), _psnr(model(x_noisy), x_val))
    return out


# ---------------------------------------------------------------- 4.4 experiment: a learning rate for the budget

MASK_FRACTION_4_4 = 0.5  # the share of pixels masked in the held-out validation digits, and in training
TARGET_4_4 = 16.0  # dB on the masked held-out digits within the standard budget (Adam at 0.001 reaches about 14)
SMOKE_TARGET_4_4 = 12.0  # smoke mode trains for a few steps only: its target is looser


def masked_val_4_4() -> tuple[torch.Tensor, torch.Tensor]:
    """Return (masked held-out validation digits, clean ones), (N, 784): one fixed mask, the same for every learner."""
    _, x_val = _dae_data()
    keep = torch.rand(x_val.shape, generator=torch.Generator().manual_seed(2)) >= MASK_FRACTION_4_4
    return x_val * keep, x_val


def _valid_lr(lr) -> bool:
    return not isinstance(lr, bool) and isinstance(lr, (int, float)) and math.isfinite(lr) and 0 < lr <= 1


def masked_psnr_4_4(lr: float) -> dict:
    """Train the small denoiser on 50 %-masked digits with Adam at learning rate lr, within dae_budget().

    Returns {"input": PSNR (dB) of the masked held-out digits themselves, "output": PSNR of the denoiser's
    output for them}.
    """
    if not _valid_lr(lr):
        raise ValueError(f"lr must be a number in (0, 1], got {lr!r}")
    model = _train_dae("mask", MASK_FRACTION_4_4, get_mode(), float(lr))
    x_masked, x_clean = masked_val_4_4()
    with torch.no_grad():
        return {"input": _psnr(x_masked, x_clean), "output": _psnr(model(x_masked), x_clean)}


def target_4_4() -> float:
    """Return the PSNR (dB) that experiment 4.4 asks for in the current mode."""
    return pick(smoke=SMOKE_TARGET_4_4, standard=TARGET_4_4, full=TARGET_4_4)


def check_lr_4_4(lr) -> None:
    """Check experiment 4.4: the denoiser trained with this learning rate reaches the target PSNR on masked digits (lesson 04)."""
    name = "lr_4_4"
    require_answer(name, lr, "lr_4_4 to the learning rate you chose")
    if isinstance(lr, torch.Tensor) and lr.numel() == 1:
        lr = lr.item()
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr):
        fail(name, f"expected one number for the learning rate, got {lr!r}")
    if not 0 < lr <= 1:
        fail(name, f"lr = {lr:g} is not a usable learning rate for Adam: choose a number in (0, 1]; with lr <= 0 "
                   "nothing is learned (or the loss is climbed), and Adam's steps are about lr per parameter")
    target, mode = target_4_4(), get_mode()
    result = masked_psnr_4_4(float(lr))
    b = dae_budget()
    measured = (f"with lr = {lr:g}, the denoiser reaches {result['output']:.2f} dB on {b['n_val']:,} held-out "
                f"validation digits with {MASK_FRACTION_4_4:.0%} of their pixels masked (the masked digits themselves: "
                f"{result['input']:.2f} dB) after {b['epochs']} epoch{'s' * (b['epochs'] != 1)} on {b['n_train']:,} images; "
                f"the target "
                f"({mode} mode) is {target:.1f} dB")
    if result["output"] < target:
        fail(name, f"{measured}: {target - result['output']:.2f} dB short")
    passed(name, f"{measured}: reached, {result['output'] - target:.2f} dB above it")


WHY_4_3 = {
    "A": "a denoiser is not an identity with the noise taken out: its output is only as good as its "
         "reconstruction of the digits it has learned, so where the input is nearly clean, the input is better "
         "than anything the model draws",
    "B": "a nearly clean input is already close to its digit, closer than the denoiser's own reconstruction, "
         "which is limited by what it learned and which also removes detail it takes for noise of the "
         "strength it was trained on; as the noise grows the input's PSNR falls fast and the output's slowly, "
         "so the output wins from moderate noise on, even beyond the training level",
    "C": "noise stronger than in training does hurt the output, but it hurts the input far more: the input's "
         "PSNR keeps falling while the output stays close to the digits the model has learned, so the output "
         "stays above the input at strong noise",
    "D": "the strong end is not where it loses: stronger noise hurts the input far more than the output, which "
         "stays close to the digits the model has learned; it loses only where the input is nearly clean",
}


def check_prediction_4_3(answer) -> None:
    """Grade prediction 4.3: where the denoiser trained at s = 0.5 falls below its noisy input (lesson 04)."""
    check_choice("prediction_4_3", answer, "B", WHY_4_3)
