"""Checks for exercises 02 (undercomplete and overcomplete): references, and the mistakes they name."""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import get_mode, pick
from .core import (
    CheckFailed,
    call,
    check_choice,
    check_device,
    close,
    diagnose,
    expect_tensor,
    fail,
    passed,
    require_answer,
)

__all__ = ["check_bce_loss", "check_saturation_prediction", "check_bce_from_logits", "check_small_autoencoder"]  # what aecourse.checks exports


# ---------------------------------------------------------------- 2.1 the BCE loss (build)


def _bce_terms(x_hat: torch.Tensor, x: torch.Tensor, clamp: bool = True) -> tuple:
    """Return the per-pixel x·log x̂ and (1 − x)·log(1 − x̂), logs clamped at -100 as torch does."""
    log_p, log_q = torch.log(x_hat), torch.log(1 - x_hat)
    if clamp:
        log_p, log_q = log_p.clamp(min=-100), log_q.clamp(min=-100)
    return x * log_p, (1 - x) * log_q


def _bce_cases(seed: int, batch: int, d: int) -> list:
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(batch, d, generator=g)
    x = torch.where(u < 0.6, 0.0, torch.where(u > 0.85, 1.0, torch.rand(batch, d, generator=g)))  # MNIST-like
    p = 0.02 + 0.96 * torch.rand(batch, d, generator=g)
    saturated = torch.where(x == 0, 0.0, torch.where(x == 1, 1.0, p))
    return [(f"on a random batch ({batch}×{d}, seed {seed})", p, x),
            (f"on a batch where x_hat holds exact 0s and 1s, as a saturated sigmoid gives ({batch}×{d})",
             saturated, x)]


def _batch_loss(name: str, fn, first: str, value: torch.Tensor, x: torch.Tensor) -> tuple:
    """Call fn(value, x) on a copy of value that requires grad; return (that copy, the raw result, the loss).

    The loss must be one tensor number: BCE summed over pixels, averaged over the batch.
    """
    leaf = value.clone().requires_grad_()
    raw = call(name, fn, **{first: leaf, "x": x})
    if isinstance(raw, (float, int)):
        fail(name, "returned a Python number; return the tensor (no .item()) so that loss.backward() works")
    out = expect_tensor(name, raw, (), {
        (len(x),): "returned one loss per image, shape (B,); average them over the batch with .mean()",
        tuple(x.shape): "returned the loss of every pixel, shape (B, D); sum over pixels (dim=1), then "
                        "average over the batch"}, dtype=x.dtype)
    return leaf, raw, out


def _bce_case(name: str, fn, where: str, p: torch.Tensor, x: torch.Tensor) -> None:
    batch = len(x)
    x_hat, raw, out = _batch_loss(name, fn, "x_hat", p, x)
    a, b = _bce_terms(p, x)
    per_pixel = -(a + b)
    mistakes = [
        ("NaN or inf where x_hat is exactly 0 or 1: 0 · log 0 is NaN; clamp each log at -100 as "
         "F.binary_cross_entropy does (torch.log(x_hat).clamp(min=-100)), or use it with reduction='none'",
         lambda: -sum(_bce_terms(p, x, clamp=False)).sum(dim=1).mean()),
        ("averaged over pixels as well as over the batch (F.binary_cross_entropy's default "
         "reduction='mean'): sum over pixels (dim=1), then average over the batch", lambda: per_pixel.mean()),
        ("summed over the batch as well: sum over pixels (dim=1), then average over the batch (.mean())",
         lambda: per_pixel.sum()),
        ("averaged over pixels and summed over the batch; it is the other way round: .sum(dim=1).mean()",
         lambda: per_pixel.mean(dim=1).sum()),
        ("the loss has the wrong sign: BCE is −[x·log x̂ + (1 − x)·log(1 − x̂)], mind the minus",
         lambda: (a + b).sum(dim=1).mean()),
        ("swapped x_hat and x: the logs are of the prediction x_hat, weighted by the target x",
         lambda: -sum(_bce_terms(x, p)).sum(dim=1).mean()),
        ("swapped x_hat and x: the logs are of the prediction x_hat, weighted by the target x",
         lambda: -sum(_bce_terms(x, p, clamp=False)).sum(dim=1).mean()),
        ("left out the (1 − x)·log(1 − x̂) term, which penalises ink where the target is background",
         lambda: -a.sum(dim=1).mean()),
        ("left out the x·log x̂ term, which penalises missing ink", lambda: -b.sum(dim=1).mean()),
        ("computed the squared error; this exercise asks for the binary cross-entropy",
         lambda: ((p - x) ** 2).sum(dim=1).mean()),
    ]
    ref = F.binary_cross_entropy(p, x, reduction="sum") / batch
    diagnose(name, out, ref, mistakes, where, rtol=1e-4, atol=1e-3)
    if not raw.requires_grad:
        fail(name, "the loss is cut off from autograd (.detach(), .item() or torch.no_grad()): compute it "
                   "from x_hat with torch operations so that loss.backward() reaches the model")
    grad = torch.autograd.grad(raw, x_hat, allow_unused=True)[0]
    if grad is None:
        fail(name, "the loss does not depend on x_hat through autograd: compute it from x_hat itself")
    if not torch.isfinite(grad).all():
        bad = int((~torch.isfinite(grad)).sum())
        fail(name, f"the loss is right, but its gradient is NaN or inf at {bad} of {grad.numel()} pixels {where}: "
                   "the derivative of log divides by x_hat, so log(0) clamped afterwards still gives 0 / 0 in "
                   "the backward pass, and one NaN gradient ruins every weight. Clamp x_hat before the log as "
                   "well, torch.log(x_hat.clamp(min=1e-44)).clamp(min=-100), or use F.binary_cross_entropy")
    inner = (p > 0) & (p < 1)  # where the derivative is defined; F.binary_cross_entropy gives 0 at exact 0s and 1s
    q = p.clone().requires_grad_()
    ref_grad = torch.autograd.grad(F.binary_cross_entropy(q, x, reduction="sum") / batch, q)[0]
    if not close(grad[inner], ref_grad[inner], 1e-3, 1e-5):
        err = (grad[inner].double() - ref_grad[inner].double()).abs()
        fail(name, f"the loss is right, but its gradient is not {where}: largest error {err.max().item():.3g} "
                   "(compute the loss from x_hat with differentiable torch operations)")


def check_bce_loss(fn, seed: int = 0, batch: int = 4, d: int = 784) -> None:
    """Check bce_loss(x_hat, x) against F.binary_cross_entropy summed over pixels, averaged over the batch (lesson 02)."""
    name = getattr(fn, "__name__", "bce_loss")
    cases = _bce_cases(seed, batch, d)
    for case in cases:
        _bce_case(name, fn, *case)
    check_device(name, fn, x_hat=cases[0][1], x=cases[0][2])
    passed(name, f"equals F.binary_cross_entropy(x_hat, x, reduction='sum') / B, saturated pixels "
                 f"included (batch {batch}, seed {seed})")



# ---------------------------------------------------------------- 2.2 a saturated logit (predict)

_SATURATION = {
    "A": "The true derivative of the loss with respect to the logit is σ(l) − x = −1, and the logits form "
         "computes exactly that, but the two-step form does not: σ(−200) rounds to exactly 0 in float32, so the "
         "sigmoid's own derivative σ(l)(1 − σ(l)) is 0 too, and the chain rule multiplies everything by it.",
    "B": "σ(−200) rounds to exactly 0 in float32, so the sigmoid's derivative σ(l)(1 − σ(l)) is exactly 0, and "
         "the chain rule multiplies whatever BCE sends back by it: the pixel is wrong and gets no signal at all.",
    "C": "Nothing divides 0 by 0 here: F.binary_cross_entropy clamps the log at −100 and divides its derivative by "
         "max(x̂(1 − x̂), 1e-12), so the loss is 100 and every factor is finite; one of them is exactly 0.",
    "D": "BCE does send a huge number back to x̂ (−1/1e-12 = −1e12, its clamped derivative), but the chain rule "
         "then multiplies it by the sigmoid's derivative at −200, which is exactly 0 in float32, so the logit gets 0.",
}


def check_saturation_prediction(answer) -> None:
    """Grade the prediction of exercise 2.2: the gradient BCE after a sigmoid sends to a saturated logit (lesson 02)."""
    check_choice("prediction_2_2", answer, "B", _SATURATION)


# ---------------------------------------------------------------- 2.4 a small autoencoder that beats PCA (experiment)

SMALL_CODE, SMALL_PARAMS = 4, 40_000


def small_ae_budget() -> dict:
    """The experiment's limits and target in the current mode: code size, parameters, test error."""
    return {"code": SMALL_CODE, "params": SMALL_PARAMS, "target": pick(smoke=70.0, standard=36.0, full=36.0)}


@functools.lru_cache(maxsize=1)
def _test_images() -> torch.Tensor:
    """The 10,000 MNIST test images, flattened: (10000, 784) in [0, 1]."""
    from ..data import load_mnist

    return load_mnist("test", flatten=True)[0]


def _as_pixels(name: str, out, n: int, what: str) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        fail(name, f"{what} returned {type(out).__name__}, expected a tensor of reconstructions ({n}, 784)")
    if out.numel() != n * 784:
        fail(name, f"{what} returned shape {tuple(out.shape)} for {n} images; expected ({n}, 784) "
                   "(or (N, 1, 28, 28)): one reconstruction per input image")
    return out.detach().reshape(n, 784).double().cpu()


def check_small_autoencoder(model) -> None:
    """Measure the trained model of exercise 2.4 on the MNIST test digits: code size, parameters, error (lesson 02)."""
    name = "model_2_4"
    require_answer(name, model, "`model_2_4` to your trained autoencoder")
    if not isinstance(model, nn.Module):
        fail(name, f"expected your trained model, an nn.Module; got {type(model).__name__}")
    missing = [part for part in ("encoder", "decoder") if not isinstance(getattr(model, part, None), nn.Module)]
    if missing:
        fail(name, f"the model has no {' and no '.join(missing)} module; give it the attributes `encoder` and "
                   "`decoder`, as the lesson's Autoencoder does, so that the check can measure the code")
    budget = small_ae_budget()
    n_params = sum(p.numel() for p in model.parameters())
    if n_params > budget["params"]:
        fail(name, f"the model has {n_params:,} parameters, {n_params - budget['params']:,} over the budget of "
                   f"{budget['params']:,}: narrow the hidden layers (a Linear(784, h) alone costs 785·h)")
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    x_all = _test_images()
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            x8 = x_all[:8].to(device, dtype)
            z = call(f"{name}.encoder", model.encoder, x=x8)
            if not isinstance(z, torch.Tensor) or z.dim() != 2 or len(z) != 8:
                shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
                fail(name, f"the encoder returned {shape} for 8 images; expected codes of shape (8, k)")
            if z.shape[1] > budget["code"]:
                fail(name, f"the code has {z.shape[1]} numbers per image; the task allows at most "
                           f"{budget['code']}: make the encoder's last layer Linear(h, {budget['code']})")
            whole = _as_pixels(name, call(name, model, x=x8), 8, "the model")
            chained = _as_pixels(name, call(f"{name}.decoder", model.decoder, z=z), 8, "the decoder")
            if not close(whole, chained, 1e-4, 1e-5):
                gap = (whole - chained).abs().max().item()
                fail(name, f"model(x) differs from model.decoder(model.encoder(x)) (by up to {gap:.3g}): the "
                           "reconstruction must pass through the code alone, with no path around it")
            low, high = whole.min().item(), whole.max().item()
            if low < -1e-6 or high > 1 + 1e-6:
                fail(name, f"the reconstructions range from {low:.3g} to {high:.3g}, outside the pixels' [0, 1]: "
                           "end the decoder with nn.Sigmoid() (if you trained on logits with "
                           "F.binary_cross_entropy_with_logits, append the sigmoid after training)")
            errors = []
            for chunk in x_all.split(2000):
                x_hat = _as_pixels(name, model(chunk.to(device, dtype)), len(chunk), "the model")
                errors.append(((x_hat - chunk.double()) ** 2).sum(dim=1))
    finally:
        for m, training in modes.items():
            m.train(training)
    error = torch.cat(errors).mean().item()
    target, mode = budget["target"], get_mode()
    if not math.isfinite(error):
        fail(name, "the reconstructions of the test digits contain NaN or inf")
    if error > target:
        fail(name, f"measured {error:.2f} squared error per test image (summed over pixels, 10,000 test digits), "
                   f"{error - target:.2f} above the target {target:g} ({mode} mode's target); train it further, "
                   "with a larger learning rate or more epochs, or spend the parameters differently")
    passed(name, f"{error:.2f} squared error per test image (target {target:g}, {mode} mode's), with a code of "
                 f"{z.shape[1]} numbers and {n_params:,} parameters")


# ---------------------------------------------------------------- 2.3 BCE from logits (derive)


def _banned_logits_functions() -> tuple:
    return (F.binary_cross_entropy_with_logits, torch.binary_cross_entropy_with_logits, nn.BCEWithLogitsLoss)


def _uses_banned(fn) -> bool:
    """Whether fn holds torch's own BCE-with-logits under any name (in its globals, defaults or closure)."""
    banned = _banned_logits_functions()
    code = getattr(fn, "__code__", None)
    if code is None:
        return False
    values = [getattr(fn, "__globals__", {}).get(n) for n in code.co_names]
    values += [c.cell_contents for c in (fn.__closure__ or ()) if c.cell_contents is not None] if fn.__closure__ else []
    values += list(fn.__defaults__ or ())
    return any(v is b or (isinstance(b, type) and (isinstance(v, b) or v is b)) for v in values for b in banned)


class _Banned(Exception):
    pass


def _logit_cases(seed: int, batch: int, d: int) -> list:
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(batch, d, generator=g)
    x = torch.where(u < 0.6, 0.0, torch.where(u > 0.85, 1.0, torch.rand(batch, d, generator=g)))  # MNIST-like
    logits = 3 * torch.randn(batch, d, generator=g) + 0.5
    extreme = torch.tensor([-200.0, 200.0, -200.0, 200.0, -40.0, 40.0, -90.0, 90.0])
    targets = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.3, 0.7])
    sat_l = torch.cat([extreme, 3 * torch.randn(8, generator=g)]).reshape(2, 8)
    sat_x = torch.cat([targets, torch.rand(8, generator=g)]).reshape(2, 8)
    return [(f"on random logits ({batch}×{d}, seed {seed})", logits, x),
            ("on saturated logits, rows [-200, 200, -200, 200, -40, 40, -90, 90] against targets "
             "[0, 1, 1, 0, 1, 0, 0.3, 0.7], and one row of random ones", sat_l, sat_x)]


def _logits_case(name: str, fn, where: str, lg: torch.Tensor, x: torch.Tensor) -> None:
    batch = len(x)
    logits, raw, out = _batch_loss(name, fn, "logits", lg, x)
    ld, xd = lg.double(), x.double()
    per_pixel = ld.clamp(min=0) - ld * xd + torch.log1p(torch.exp(-ld.abs()))  # float64, stable
    ref = per_pixel.sum(dim=1).mean()
    p = torch.sigmoid(lg)
    mistakes = [
        ("took the log of torch.sigmoid(logits), as F.binary_cross_entropy does after a sigmoid: where σ(l) rounds "
         "to 0 or 1 the log is clamped at -100, so a pixel at logit ±200 costs 100 instead of 200; use "
         "log σ(l) = −softplus(−l) and log(1 − σ(l)) = −softplus(l)",
         lambda: F.binary_cross_entropy(p, x, reduction="none").sum(dim=1).mean()),
        ("swapped the two softplus terms: −log σ(l) = softplus(−l) goes with x, −log(1 − σ(l)) = softplus(l) "
         "with 1 − x", lambda: (xd * F.softplus(ld) + (1 - xd) * F.softplus(-ld)).sum(dim=1).mean()),
        ("left out max(l, 0): −log σ(l) is max(l, 0) − l + log(1 + e^(−|l|)), and log(1 + e^(−|l|)) alone "
         "is only right for l ≤ 0", lambda: (-ld * xd + torch.log1p(torch.exp(-ld.abs()))).sum(dim=1).mean()),
        ("averaged over pixels as well as over the batch: sum over pixels (dim=1), then average over the batch",
         lambda: per_pixel.mean()),
        ("summed over the batch as well: sum over pixels (dim=1), then average over the batch (.mean())",
         lambda: per_pixel.sum()),
        ("averaged over pixels and summed over the batch; it is the other way round: .sum(dim=1).mean()",
         lambda: per_pixel.mean(dim=1).sum()),
        ("the loss has the wrong sign: BCE is −[x·log σ(l) + (1 − x)·log(1 − σ(l))], a positive number",
         lambda: -ref),
        ("left out the (1 − x)·softplus(l) term, which penalises ink where the target is background",
         lambda: (xd * F.softplus(-ld)).sum(dim=1).mean()),
        ("left out the x·softplus(−l) term, which penalises missing ink",
         lambda: ((1 - xd) * F.softplus(ld)).sum(dim=1).mean()),
    ]
    if not torch.isfinite(out).all():
        fail(name, f"the loss is {out.item()} {where}: in float32 torch.sigmoid(-200.) is exactly 0, so its log is "
                   "−inf, and torch.exp(200.) is inf; write each term with F.softplus (or torch.logaddexp), or as "
                   "max(l, 0) − l·x + log1p(exp(−|l|)), which never overflows")
    diagnose(name, out, ref, mistakes, where, rtol=1e-4, atol=1e-3)
    if not raw.requires_grad:
        fail(name, "the loss is cut off from autograd (.detach(), .item() or torch.no_grad()): compute it "
                   "from the logits with torch operations so that loss.backward() reaches the model")
    grad = torch.autograd.grad(raw, logits, allow_unused=True)[0]
    if grad is None:
        fail(name, "the loss does not depend on the logits through autograd: compute it from them")
    want = (torch.sigmoid(ld) - xd) / batch  # the derivative, (σ(l) − x) / B
    if not close(grad, want, 1e-3, 1e-5):
        err = (grad.double() - want).abs()
        i = int(err.argmax())
        r, c = divmod(i, x.shape[1])
        fail(name, f"the loss is right, but its gradient is not {where}: at logit {lg[r, c].item():g}, target "
                   f"{x[r, c].item():g} it is {grad[r, c].item():.4g}, expected (σ(l) − x) / B = "
                   f"{want[r, c].item():.4g}")


def check_bce_from_logits(fn, seed: int = 0, batch: int = 4, d: int = 784) -> None:
    """Check bce_from_logits(logits, x): the stable BCE from logits, summed over pixels, averaged over the batch (lesson 02)."""
    name = getattr(fn, "__name__", "bce_from_logits")
    message = ("uses torch's own binary_cross_entropy_with_logits (or nn.BCEWithLogitsLoss): this exercise asks "
               "you to derive it from softplus or log1p and exp; the check compares your result with it")
    if _uses_banned(fn):
        fail(name, message)
    cases = _logit_cases(seed, batch, d)
    originals = F.binary_cross_entropy_with_logits, torch.binary_cross_entropy_with_logits

    def trap(*args, **kwargs):
        raise _Banned

    F.binary_cross_entropy_with_logits = torch.binary_cross_entropy_with_logits = trap
    try:
        for case in cases:
            try:
                _logits_case(name, fn, *case)
            except CheckFailed as err:
                if isinstance(err.__cause__, _Banned):
                    fail(name, message)
                raise
    finally:
        F.binary_cross_entropy_with_logits, torch.binary_cross_entropy_with_logits = originals
    check_device(name, fn, logits=cases[0][1], x=cases[0][2])
    passed(name, f"equals the BCE of σ(logits) summed over pixels, averaged over the batch, with gradient "
                 f"(σ(l) − x) / B, logits ±200 included (batch {batch}, seed {seed})")
