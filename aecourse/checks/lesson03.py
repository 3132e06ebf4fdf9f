"""Checks for exercises 03 (sparse autoencoders): references, and the mistakes they name."""

from __future__ import annotations

import functools
import itertools
import math
import warnings

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.graph import saved_tensors_hooks

from ..config import get_mode, pick
from ..data import load_mnist
from .core import (
    _report_warnings,
    call,
    check_choice,
    check_device,
    close,
    diagnose,
    expect_tensor,
    fail,
    passed,
    require_answer,
    validation_digits,
)

__all__ = ["check_kl_sparsity", "check_kl_sparsity_grad", "check_prediction_3_3",
           "check_beta_3_4"]  # what aecourse.checks exports from here

EPS = 1e-6  # the exercise clamps rho_hat into [EPS, 1 - EPS]
# Other common clamps give other (finite, large) penalties for a dead unit; accept them too.
EPS_ACCEPTED = (EPS, 1e-5, 1e-4, 1e-3, 1e-7, torch.finfo(torch.float32).eps)


def kl_sparsity_reference(h: torch.Tensor, rho: float, beta: float, eps: float = EPS) -> torch.Tensor:
    """Return beta * sum_j KL(rho || rho_hat_j), rho_hat_j = h[:, j].mean(), clamped into [eps, 1 - eps]."""
    rho_hat = h.mean(dim=0).clamp(eps, 1 - eps)  # (K,): each unit's mean activation over the batch
    kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))  # (K,)
    return beta * kl.sum()


def _kl_terms(rho, q: torch.Tensor) -> torch.Tensor:
    """Return KL(rho || q) of Bernoulli coins, elementwise, unclamped."""
    return rho * torch.log(rho / q) + (1 - rho) * torch.log((1 - rho) / (1 - q))


def _activations(seed: int, batch: int, units: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (a, h): pre-activations (a leaf) and sigmoid activations h = sigmoid(a), (B, K)."""
    g = torch.Generator().manual_seed(seed)
    shift = -3 + 2.5 * torch.rand(units, generator=g)  # units from rarely to often active
    a = (shift + 1.5 * torch.randn(batch, units, generator=g)).requires_grad_()
    return a, torch.sigmoid(a)


def _kl_output(name: str, raw, batch: int, units: int, dtype: torch.dtype) -> torch.Tensor:
    if isinstance(raw, (float, int)):
        fail(name, "returned a Python number; return the tensor (no .item()) so that loss.backward() works")
    return expect_tensor(name, raw, (), dtype=dtype, hints={
        (units,): f"returned one KL per unit, shape ({units},); sum over the units and multiply by beta",
        (batch,): (f"returned one value per image, shape ({batch},): rho_hat_j is unit j's mean activation "
                   "over the batch (h.mean(dim=0)), so the penalty is one number for the whole batch"),
        (batch, units): ("returned a tensor of shape (B, K), one value per activation; average each unit "
                         "over the batch first (rho_hat = h.mean(dim=0)), then sum the K divergences")})


def _kl_mistakes(h: torch.Tensor, rho: float, beta: float) -> list:
    rho_hat = h.mean(dim=0)  # (K,)
    kl = _kl_terms(rho, rho_hat)  # (K,)
    return [
        ("computed KL(rho_hat || rho), the arguments swapped; the penalty is KL(rho || rho_hat_j) = "
         "rho·log(rho / rho_hat_j) + (1 − rho)·log((1 − rho) / (1 − rho_hat_j))",
         lambda: beta * _kl_terms(rho_hat, torch.tensor(rho)).sum()),
        ("left out beta: multiply the summed divergences by the weight beta",
         lambda: kl.sum()),
        (f"used beta = 3 whatever the argument says (here beta = {beta}); use the argument",
         lambda: 3.0 * kl.sum()),
        (f"used rho = 0.05 whatever the argument says (here rho = {rho}); use the argument",
         lambda: beta * _kl_terms(0.05, rho_hat).sum()),
        ("averaged over the units instead of over the batch: rho_hat_j is unit j's mean activation over "
         "the batch, h.mean(dim=0), one value per unit (you used h.mean(dim=1), one value per image)",
         lambda: beta * _kl_terms(rho, h.mean(dim=1)).sum()),
        ("averaged over the units instead of over the batch: rho_hat_j is unit j's mean activation over "
         "the batch, h.mean(dim=0), one value per unit (you used h.mean(dim=1), one value per image)",
         lambda: beta * _kl_terms(rho, h.mean(dim=1)).mean()),
        ("averaged over everything: rho_hat is one number per unit, h.mean(dim=0), not h.mean()",
         lambda: beta * _kl_terms(rho, h.mean())),
        ("averaged over everything: rho_hat is one number per unit, h.mean(dim=0), not h.mean()",
         lambda: beta * h.shape[1] * _kl_terms(rho, h.mean())),
        ("averaged the divergences over the units; sum them: beta · Σ_j KL(rho || rho_hat_j)",
         lambda: beta * kl.mean()),
        ("compared rho with every single activation h_ij; compare it with each unit's average over the "
         "batch, rho_hat_j = h.mean(dim=0), then sum over units",
         lambda: beta * _kl_terms(rho, h).sum(dim=1).mean()),
        ("compared rho with every single activation h_ij; compare it with each unit's average over the "
         "batch, rho_hat_j = h.mean(dim=0), then sum over units",
         lambda: beta * _kl_terms(rho, h).mean(dim=0).sum()),
        ("the penalty has the wrong sign: KL(rho || rho_hat_j) ≥ 0, and beta times it is added to the loss",
         lambda: -beta * kl.sum()),
        ("left out the (1 − rho)·log((1 − rho) / (1 − rho_hat_j)) term: KL between two Bernoulli coins "
         "has a term for 'fires' and one for 'stays silent'", lambda: beta * (rho * torch.log(rho / rho_hat)).sum()),
        ("summed the activations over the batch; rho_hat_j is their mean, h.mean(dim=0)",
         lambda: beta * _kl_terms(rho, h.sum(dim=0)).sum()),
    ]


_SHORT = {"swap": "the arguments are swapped (the penalty is KL(rho || rho_hat_j), the target first)",
          "axis": "rho_hat must average each unit over the batch, h.mean(dim=0), not over the units",
          "no beta": "beta is missing",
          "mean": "the divergences must be summed over the units, not averaged"}


def _kl_variant(h: torch.Tensor, rho: float, beta: float, flags: set) -> torch.Tensor:
    """Return the penalty with the mistakes named in flags made together."""
    rates = h.mean(dim=1) if "axis" in flags else h.mean(dim=0)
    kl = _kl_terms(rates, torch.tensor(rho)) if "swap" in flags else _kl_terms(rho, rates)
    total = kl.mean() if "mean" in flags else kl.sum()
    return total if "no beta" in flags else beta * total


def _kl_combined_mistakes(h: torch.Tensor, rho: float, beta: float) -> list:
    """Return (message, make) for every combination of two or more of the common mistakes."""
    names = list(_SHORT)
    combos = [{a for a, keep in zip(names, bits, strict=True) if keep}
              for bits in itertools.product((False, True), repeat=len(names))]
    return [(f"{len(flags)} things differ from the penalty: " + "; ".join(_SHORT[f] for f in names if f in flags),
             lambda flags=flags: _kl_variant(h, rho, beta, flags))
            for flags in sorted(combos, key=len) if len(flags) >= 2]


def _dead_unit_batch(seed: int, batch: int, units: int) -> torch.Tensor:
    """Return sigmoid activations where unit 0 never fires (all 0) and unit 1 always does (all 1), as float32 gives."""
    a, _ = _activations(seed, batch, units)
    a = a.detach().clone()
    a[:, 0], a[:, 1] = -200.0, 200.0  # sigmoid(-200) == 0 and sigmoid(200) == 1 exactly in float32
    return torch.sigmoid(a.requires_grad_())


def _check_dead_units(name: str, fn, seed: int, batch: int, units: int, rho: float, beta: float) -> None:
    h = _dead_unit_batch(seed, batch, units)
    where = (f"on a batch where unit 0 never fires and unit 1 always does (rho_hat = 0 and 1 exactly, "
             f"as saturated sigmoids give in float32; {batch}×{units}, seed {seed})")
    out = _kl_output(name, call(name, fn, h=h, rho=rho, beta=beta), batch, units, h.dtype)
    if not torch.isfinite(out).all():
        fail(name, f"returned {out.item()} {where}: log(rho / 0) and log((1 − rho) / 0) are infinite. Clamp "
                   f"rho_hat into [eps, 1 − eps] with eps = 1e-6 before taking logs, "
                   f"rho_hat.clamp(1e-6, 1 - 1e-6) (a much smaller eps such as 1e-8 rounds 1 − eps to 1 "
                   f"in float32)")
    with torch.no_grad():
        refs = [kl_sparsity_reference(h, rho, beta, eps) for eps in EPS_ACCEPTED]
    if not any(close(out, ref, 1e-3, 1e-3) for ref in refs):
        fail(name, f"returned {out.item():.5g} {where}, expected {refs[0].item():.5g} (with rho_hat clamped "
                   f"into [1e-6, 1 − 1e-6] before the logs)")


def _expect_value_error(name: str, fn, h: torch.Tensor, rho: float, beta: float, where: str, why: str) -> None:
    """Fail unless fn(h, rho, beta) raises a ValueError for activations h outside [0, 1]."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = fn(h.clone(), rho, beta)
    except ValueError:
        return
    except NotImplementedError:
        fail(name, "not written yet: replace `raise NotImplementedError()` with your code, "
                   "run that cell, then run this check again")
    except Exception as err:
        said = str(err).strip().splitlines()[0] if str(err).strip() else "no message"
        fail(name, f"raised {type(err).__name__} ({said}) {where}; raise a ValueError instead, with a "
                   "message saying that h must hold sigmoid activations in [0, 1]", err)
    _report_warnings(name, caught)
    value = f"{out.item():.5g}" if isinstance(out, torch.Tensor) and out.numel() == 1 else repr(out)
    fail(name, f"returned {value} {where} instead of raising a ValueError. {why} Check `h` first: if "
               "h.min() < 0 or h.max() > 1, raise ValueError('... expected sigmoid activations in [0, 1] ...')")


def _check_rejects_relu(name: str, fn, seed: int, batch: int, units: int, rho: float, beta: float) -> None:
    g = torch.Generator().manual_seed(seed + 1)
    h = torch.relu(1.0 + 2.0 * torch.randn(batch, units, generator=g))  # ReLU activations, many above 1
    _expect_value_error(
        name, fn, h, rho, beta, f"for ReLU activations h in [0, {h.max().item():.2f}] ({batch}×{units})",
        "The penalty reads rho_hat_j as the probability that unit j fires, so it only makes sense for "
        "activations in [0, 1] (sigmoid units); ReLU activations give rho_hat_j > 1 and "
        "log((1 − rho) / (1 − rho_hat_j)) is then NaN, or silently wrong after clamping.")
    t = 0.9 * torch.tanh(torch.randn(batch, units, generator=g))  # tanh-like units: in (−0.9, 0.9), none above 1
    t[:, 0] = 0.3 + 0.1 * t[:, 0].abs()  # rates of either sign, one unit clearly positive
    _expect_value_error(
        name, fn, t, rho, beta,
        f"for tanh activations h in [{t.min().item():.2f}, {t.max().item():.2f}], none above 1 but many "
        f"negative ({batch}×{units})",
        "Your input check lets negative activations through: a firing probability cannot be negative, and "
        "a negative rho_hat_j makes log(rho / rho_hat_j) NaN (or is hidden by the clamp). Test the lower "
        "end as well as the upper one.")


def check_kl_sparsity(fn, seed: int = 0, batch: int = 16, units: int = 10, rho: float = 0.05,
                      beta: float = 3.0) -> None:
    """Check kl_sparsity(h, rho, beta) = beta · Σ_j KL(rho || rho_hat_j), rho_hat = h.mean(dim=0) (lesson 03)."""
    name = getattr(fn, "__name__", "kl_sparsity")
    _, h = _activations(seed, batch, units)
    where = f"on sigmoid activations h ({batch}×{units}, rho = {rho}, beta = {beta}, seed {seed})"
    raw = call(name, fn, h=h, rho=rho, beta=beta)
    out = _kl_output(name, raw, batch, units, h.dtype)
    if not torch.isfinite(out).all():
        fail(name, f"returned {out.item()} {where}, where every rho_hat_j lies strictly between 0 and 1: "
                   "look for a log of 0 or of a negative number; rho_hat_j = h.mean(dim=0) is a mean, "
                   "not a sum, and the logs are log(rho / rho_hat_j) and log((1 − rho) / (1 − rho_hat_j))")
    with torch.no_grad():
        ref = kl_sparsity_reference(h, rho, beta)
        mistakes = _kl_mistakes(h.detach(), rho, beta) + _kl_combined_mistakes(h.detach(), rho, beta)
    diagnose(name, out, ref, mistakes, where, rtol=1e-4, atol=1e-5)
    if not raw.requires_grad:
        fail(name, "the penalty is cut off from autograd (.detach(), .item(), numpy or torch.no_grad()): "
                   "compute it from h with torch operations so that loss.backward() reaches the encoder")
    check_device(name, fn, h=h.detach(), rho=rho, beta=beta)
    _check_dead_units(name, fn, seed, batch, units, rho, beta)
    _check_rejects_relu(name, fn, seed, batch, units, rho, beta)
    passed(name, f"equals beta · Σ_j KL(rho || rho_hat_j) with rho_hat = h.mean(dim=0), stays finite for "
                 f"dead and saturated units, rejects ReLU activations (batch {batch}, {units} units, "
                 f"rho = {rho}, beta = {beta}, seed {seed})")


# ---------------------------------------------------------------- 3.2 derive: the gradient of the KL penalty


def kl_grad_reference(h: torch.Tensor, rho: float, beta: float) -> torch.Tensor:
    """Return d/dh of beta · Σ_j KL(rho || rho_hat_j), rho_hat = h.mean(dim=0), by autograd in float64, (B, K)."""
    leaf = h.detach().double().requires_grad_()
    with torch.enable_grad():
        penalty = beta * _kl_terms(rho, leaf.mean(dim=0)).sum()
        (grad,) = torch.autograd.grad(penalty, leaf)
    return grad.to(h.dtype)


def _kl_grad_terms(rho, q: torch.Tensor) -> torch.Tensor:
    """Return d KL(rho || q) / dq = −rho / q + (1 − rho) / (1 − q), elementwise."""
    return -rho / q + (1 - rho) / (1 - q)


_GRAD_SHORT = {"sign": "the sign is flipped (the gradient of −KL)",
               "no 1/B": "the 1/B of the mean is missing",
               "no beta": "beta is missing",
               "swap": "it is the gradient of the swapped divergence KL(rho_hat || rho)"}


def _kl_grad_variant(h: torch.Tensor, rho: float, beta: float, flags: set) -> torch.Tensor:
    """Return the gradient with the mistakes named in flags made together, (B, K)."""
    q = h.mean(dim=0)
    dq = torch.log(q * (1 - rho) / (rho * (1 - q))) if "swap" in flags else _kl_grad_terms(rho, q)
    g = dq.expand_as(h) * (1.0 if "no beta" in flags else beta)
    g = g if "no 1/B" in flags else g / h.shape[0]
    return -g if "sign" in flags else g


def _kl_grad_mistakes(h: torch.Tensor, rho: float, beta: float) -> list:
    batch, units = h.shape
    q, rows = h.mean(dim=0), h.mean(dim=1, keepdim=True)  # (K,), (B, 1)
    singles = [
        ("left out the 1/B: rho_hat_j = (1/B) Σ_i h_ij, so ∂rho_hat_j/∂h_ij = 1/B, and every entry of the "
         "gradient carries that factor", {"no 1/B"}),
        ("has the wrong sign: KL(rho || rho_hat_j) grows as rho_hat_j moves away from rho, so the gradient "
         "is positive where rho_hat_j > rho (d/dq of −rho·log q is −rho/q, of −(1 − rho)·log(1 − q) is "
         "+(1 − rho)/(1 − q))", {"sign"}),
        ("left out beta: the penalty is beta times the divergences, and so is its gradient", {"no beta"}),
        ("is the gradient of the swapped divergence KL(rho_hat || rho) (log(rho_hat(1 − rho) / (rho(1 − "
         "rho_hat)))); differentiate rho·log(rho / q) + (1 − rho)·log((1 − rho) / (1 − q)) in q", {"swap"}),
    ]
    mistakes = [(m, lambda f=f: _kl_grad_variant(h, rho, beta, f)) for m, f in singles]
    mistakes += [
        (f"divided by K = {units}, the number of units; the mean that defines rho_hat_j runs over the B = "
         f"{batch} images of the batch, so divide by B", lambda: beta * _kl_grad_terms(rho, q).expand_as(h) / units),
        ("kept only the −rho / rho_hat_j term: the (1 − rho)·log((1 − rho) / (1 − rho_hat_j)) part of the "
         "divergence contributes +(1 − rho) / (1 − rho_hat_j)",
         lambda: beta * (-rho / q).expand_as(h) / batch),
        ("got the sign of the second term wrong: d/dq of −(1 − rho)·log(1 − q) is +(1 − rho) / (1 − q) (the "
         "chain rule through 1 − q gives a second minus)",
         lambda: beta * (-rho / q - (1 - rho) / (1 - q)).expand_as(h) / batch),
        ("differentiated at each activation h_ij instead of at the unit's rate rho_hat_j: the divergence "
         "depends on h only through rho_hat_j = h.mean(dim=0), so every row of the gradient is the same",
         lambda: beta * _kl_grad_terms(rho, h) / batch),
        ("differentiated at each activation h_ij instead of at the unit's rate rho_hat_j: the divergence "
         "depends on h only through rho_hat_j = h.mean(dim=0), so every row of the gradient is the same",
         lambda: beta * _kl_grad_terms(rho, h)),
        ("averaged over the units (h.mean(dim=1)) instead of over the batch: rho_hat_j is unit j's mean "
         "over the batch, h.mean(dim=0)", lambda: beta * _kl_grad_terms(rho, rows).expand_as(h) / units),
        ("returned the divergences themselves, not their gradient",
         lambda: beta * _kl_terms(rho, q).expand_as(h) / batch),
        ("returned the divergences themselves, not their gradient",
         lambda: beta * _kl_terms(rho, q).expand_as(h)),
        (f"used rho = 0.05 whatever the argument says (here rho = {rho}); use the argument",
         lambda: beta * _kl_grad_terms(0.05, q).expand_as(h) / batch),
        (f"used beta = 3 whatever the argument says (here beta = {beta}); use the argument",
         lambda: 3.0 * _kl_grad_terms(rho, q).expand_as(h) / batch),
    ]
    names = list(_GRAD_SHORT)
    for bits in itertools.product((False, True), repeat=len(names)):
        flags = {n for n, keep in zip(names, bits, strict=True) if keep}
        if len(flags) >= 2:
            mistakes.append((f"{len(flags)} things differ from the gradient: "
                             + "; ".join(_GRAD_SHORT[f] for f in names if f in flags),
                             lambda flags=flags: _kl_grad_variant(h, rho, beta, flags)))
    return mistakes


def _without_autograd(fn):
    """Return (run, used): run calls fn and notes in used["autograd"] whether it built an autograd graph."""
    used = {"autograd": False}

    def pack(t):
        used["autograd"] = True
        return t

    def run(*args):
        try:
            with saved_tensors_hooks(pack, lambda t: t):
                return fn(*args)
        except RuntimeError as err:
            if "saved tensor hooks" in str(err):  # torch.func.grad / jacrev / vjp refuse to run under the hooks
                used["autograd"] = True
                return None
            raise

    return run, used


def check_kl_sparsity_grad(fn, seed: int = 0, batch: int = 12, units: int = 7, rho: float = 0.1,
                           beta: float = 2.5) -> None:
    """Check kl_sparsity_grad(h, rho, beta) = ∂/∂h of beta · Σ_j KL(rho || rho_hat_j), by hand (lesson 03)."""
    name = getattr(fn, "__name__", "kl_sparsity_grad")
    _, h = _activations(seed, batch, units)
    h = h.detach()
    where = f"on sigmoid activations h ({batch}×{units}, rho = {rho}, beta = {beta}, seed {seed})"
    run, used = _without_autograd(fn)
    raw = call(name, run, h=h, rho=rho, beta=beta)
    if used["autograd"]:
        fail(name, "used autograd (.backward(), torch.autograd.grad or torch.func) to get the gradient; this "
                   "exercise asks you to derive it by hand and write the formula with tensor operations (the "
                   "check compares your formula with autograd)")
    if isinstance(raw, (tuple, list)) and len(raw) == 2 and all(isinstance(t, torch.Tensor) for t in raw):
        fail(name, "returned two tensors; return only the gradient with respect to h, shape (B, K)")
    out = expect_tensor(name, raw, (batch, units), {
        (units,): (f"returned shape ({units},), one value per unit: that is the gradient with respect to "
                   "rho_hat_j; carry it on to h with the chain rule, ∂rho_hat_j/∂h_ij = 1/B, which gives "
                   "every image of the batch the same row"),
        (): "returned one number; return the gradient with respect to every activation, shape (B, K)",
        (batch,): f"returned shape ({batch},), one value per image; the gradient has one entry per activation, (B, K)",
        (units, batch): "returned the transpose, shape (K, B); the gradient has the shape of h, (B, K)"},
        dtype=h.dtype)
    with torch.no_grad():
        ref = kl_grad_reference(h, rho, beta)
        mistakes = _kl_grad_mistakes(h.double(), rho, beta)
    diagnose(name, out, ref, mistakes, where, rtol=1e-4, atol=1e-6)
    check_device(name, fn, h=h, rho=rho, beta=beta)
    passed(name, f"equals autograd's gradient of beta · Σ_j KL(rho || rho_hat_j) with respect to h, "
                 f"(beta / B)·(−rho / rho_hat_j + (1 − rho) / (1 − rho_hat_j)) in every row "
                 f"(batch {batch}, {units} units, rho = {rho}, beta = {beta}, seed {seed})")


# ---------------------------------------------------------------- 3.3 predict: the arguments swapped


def rates_under_penalty(swapped: bool, units: int = 500, batch: int = 64, steps: int = 300, lr: float = 1.0,
                        rho: float = 0.05, beta: float = 1.0, seed: int = 0) -> dict:
    """Return the firing rates (units,) before and after gradient descent on each unit's bias under the penalty alone.

    Unit j's pre-activation for image i is a_ij = b_j + n_ij, with n_ij ~ N(0, 1) standing for the part
    that depends on the image; the biases start spread from −12 (a dead unit) to +6 (a saturated one),
    and plain gradient descent (no Adam) lowers beta · Σ_j D_j, with D_j = KL(rho || rho_hat_j), or
    KL(rho_hat_j || rho) when swapped, rho_hat_j the mean of sigmoid(a_ij) over a batch.
    """
    g = torch.Generator().manual_seed(seed)
    bias = torch.linspace(-12.0, 6.0, units, dtype=torch.float64)
    start = torch.sigmoid(bias + torch.randn(500, units, generator=g, dtype=torch.float64)).mean(dim=0)
    bias.requires_grad_()
    target = torch.tensor(rho, dtype=torch.float64)
    for _ in range(steps):
        q = torch.sigmoid(bias + torch.randn(batch, units, generator=g, dtype=torch.float64)).mean(dim=0)
        q = q.clamp(1e-12, 1 - 1e-12)
        penalty = beta * (_kl_terms(q, target) if swapped else _kl_terms(target, q)).sum()
        (grad,) = torch.autograd.grad(penalty, bias)
        with torch.no_grad():
            bias -= lr * grad
    with torch.no_grad():
        end = torch.sigmoid(bias + torch.randn(500, units, generator=g, dtype=torch.float64)).mean(dim=0)
    return {"start": start.float(), "end": end.float()}


WHY_3_3 = {
    "A": "both divergences are smallest at rho_hat = rho, but that is not enough: the swapped one pulls a "
         "unit's bias with a force that vanishes as its rate goes to 0, so units that start dead are never "
         "brought back",
    "B": "on a bias, the pull of KL(rho || rho_hat) is about beta·(rho_hat − rho), bounded away from 0 for a "
         "dead unit, while the swapped one pulls with about beta·rho_hat·log(rho_hat / rho), which vanishes "
         "as rho_hat → 0: units near rho_hat = 0 barely move and stay dead, the others gather at rho",
    "C": "the swapped divergence is also zero only at rho_hat = rho and grows on both sides, so units that are "
         "active are still pulled towards rho, not to 0; only those that start (nearly) dead stay there",
    "D": "it is the other way round: the swapped pull on a bias vanishes for dead units (it scales like "
         "rho_hat·log(rho_hat / rho)) while the ordinary penalty revives them; saturated units are pulled down "
         "under both",
}


def check_prediction_3_3(answer) -> None:
    """Grade prediction 3.3: the firing-rate histogram when the KL's arguments are swapped (lesson 03)."""
    check_choice("prediction_3_3", answer, "B", WHY_3_3)


# ---------------------------------------------------------------- 3.4 experiment: beta for a target rate

RHO_3_4, TOLERANCE_3_4 = 0.1, 0.10  # the target rate, and how close the mean activation must land (standard)
SMOKE_TOLERANCE_3_4 = 0.5  # smoke mode trains for a few steps only: the target is loosened there


def budget_3_4() -> dict:
    """Return the fixed training budget of experiment 3.4 in the current mode."""
    return {"n_train": pick(smoke=1_000, standard=3_000, full=3_000),
            "epochs": pick(smoke=3, standard=6, full=6), "hidden": 128, "batch_size": 100, "lr": 1e-2,
            "n_val": pick(smoke=500, standard=2_000, full=2_000)}


def _mnist_3_4(n_train: int, n_val: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (training images, held-out validation images), flattened (N, 784), the same for every learner."""
    x_train, _ = load_mnist("train")
    return x_train[:n_train].flatten(1), validation_digits(n_val)


def train_sparse_3_4(beta: float, rho: float = RHO_3_4, seed: int = 0) -> dict:
    """Train experiment 3.4's 784-128-784 sigmoid autoencoder with BCE + beta·Σ_j KL(rho || rho_hat_j).

    The budget is budget_3_4() (Adam, learning rate 0.01, batches of 100). Returns, on held-out
    validation digits (training images it never trained on), the mean hidden activation, the squared
    error per image, and the rates rho_hat_j (K,).
    """
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not math.isfinite(beta) or beta < 0:
        raise ValueError(f"beta must be a non-negative number, got {beta!r}")
    result = _train_sparse_cached(float(beta), float(rho), seed, get_mode())
    return {**result, "rates": result["rates"].clone()}


@functools.lru_cache(maxsize=32)
def _train_sparse_cached(beta: float, rho: float, seed: int, mode: str) -> dict:
    """Train and measure once per (beta, rho, seed, mode): a check after a trial with the same beta is instant."""
    b = budget_3_4()
    x_train, x_val = _mnist_3_4(b["n_train"], b["n_val"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = nn.Sequential(nn.Linear(784, b["hidden"]), nn.Sigmoid())
        decoder = nn.Sequential(nn.Linear(b["hidden"], 784), nn.Sigmoid())
        params = [*encoder.parameters(), *decoder.parameters()]
        optimizer = torch.optim.Adam(params, lr=b["lr"])
        for _ in range(b["epochs"]):
            for idx in torch.randperm(len(x_train)).split(b["batch_size"]):
                x = x_train[idx]
                h = encoder(x)
                bce = F.binary_cross_entropy(decoder(h), x, reduction="none").sum(dim=1).mean()
                loss = bce + beta * kl_sparsity_reference(h, rho, 1.0)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    with torch.no_grad():
        h = encoder(x_val)
        error = ((decoder(h) - x_val) ** 2).sum(dim=1).mean()
    return {"mean activation": h.mean().item(), "error": error.item(), "rates": h.mean(dim=0)}


def check_beta_3_4(beta, rho: float = RHO_3_4) -> None:
    """Check experiment 3.4: with this beta the mean activation on held-out digits lands within 10 % of rho (lesson 03)."""
    name = "beta_3_4"
    require_answer(name, beta, "beta_3_4 to the beta you chose")
    if isinstance(beta, torch.Tensor) and beta.numel() == 1:
        beta = beta.item()
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not math.isfinite(beta):
        fail(name, f"expected one number for beta, got {beta!r}")
    if beta < 0:
        fail(name, f"beta = {beta:g} is negative: the loss would then reward rates far from rho; beta weighs a "
                   "penalty, beta >= 0")
    tolerance = pick(smoke=SMOKE_TOLERANCE_3_4, standard=TOLERANCE_3_4, full=TOLERANCE_3_4)
    mode = get_mode()
    result = train_sparse_3_4(float(beta), rho)
    mean, low, high = result["mean activation"], rho * (1 - tolerance), rho * (1 + tolerance)
    b = budget_3_4()
    measured = (f"beta = {beta:g} gives a mean activation of {mean:.4f} on {b['n_val']:,} held-out validation digits "
                f"(squared error {result['error']:.1f} per image) after {b['epochs']} epochs on "
                f"{b['n_train']:,} images; the target ({mode} mode) is rho = {rho:g} ± {tolerance:.0%}, "
                f"{low:.3f} to {high:.3f}")
    if mean > high:
        fail(name, f"{measured}: {mean / rho - 1:.0%} above rho. The reconstruction term still wins over the "
                   "penalty within this budget: a larger beta pulls the rates down harder")
    if mean < low:
        fail(name, f"{measured}: {1 - mean / rho:.0%} below rho. The rates overshoot the target on the validation "
                   "digits: a smaller beta pulls less hard")
    passed(name, f"{measured}: {abs(mean / rho - 1):.1%} off, within the target")
