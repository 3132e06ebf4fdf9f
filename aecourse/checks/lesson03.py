"""Checks for exercises 03 (sparse autoencoders): references, and the mistakes they name."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from .core import call, close, diagnose, expect_tensor, fail, passed, seeded

__all__ = ["check_kl_sparsity", "check_l1_activity"]  # what aecourse.checks exports from here

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


def _kl_output(name: str, raw, batch: int, units: int) -> torch.Tensor:
    if isinstance(raw, (float, int)):
        fail(name, "returned a Python number; return the tensor (no .item()) so that loss.backward() works")
    return expect_tensor(name, raw, (), {
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
    out = _kl_output(name, call(name, fn, h=h, rho=rho, beta=beta), batch, units)
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


def _check_rejects_relu(name: str, fn, seed: int, batch: int, units: int, rho: float, beta: float) -> None:
    g = torch.Generator().manual_seed(seed + 1)
    h = torch.relu(1.0 + 2.0 * torch.randn(batch, units, generator=g))  # ReLU activations, many above 1
    where = f"for ReLU activations h in [0, {h.max().item():.2f}] ({batch}×{units})"
    try:
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
    value = f"{out.item():.5g}" if isinstance(out, torch.Tensor) and out.numel() == 1 else repr(out)
    fail(name, f"returned {value} {where} instead of raising a ValueError. The penalty reads rho_hat_j as "
               "the probability that unit j fires, so it only makes sense for activations in [0, 1] "
               "(sigmoid units); ReLU activations give rho_hat_j > 1 and log((1 − rho) / (1 − rho_hat_j)) "
               "is then NaN, or silently wrong after clamping. Check `h` first: if h.min() < 0 or "
               "h.max() > 1, raise ValueError('... expected sigmoid activations in [0, 1] ...')")


def check_kl_sparsity(fn, seed: int = 0, batch: int = 16, units: int = 10, rho: float = 0.05,
                      beta: float = 3.0) -> None:
    """Check kl_sparsity(h, rho, beta) = beta · Σ_j KL(rho || rho_hat_j), rho_hat = h.mean(dim=0) (lesson 03)."""
    name = getattr(fn, "__name__", "kl_sparsity")
    _, h = _activations(seed, batch, units)
    where = f"on sigmoid activations h ({batch}×{units}, rho = {rho}, beta = {beta}, seed {seed})"
    raw = call(name, fn, h=h, rho=rho, beta=beta)
    out = _kl_output(name, raw, batch, units)
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
    _check_dead_units(name, fn, seed, batch, units, rho, beta)
    _check_rejects_relu(name, fn, seed, batch, units, rho, beta)
    passed(name, f"equals beta · Σ_j KL(rho || rho_hat_j) with rho_hat = h.mean(dim=0), stays finite for "
                 f"dead and saturated units, rejects ReLU activations (batch {batch}, {units} units, "
                 f"rho = {rho}, beta = {beta}, seed {seed})")


def l1_activity_reference(encoder: nn.Module, x: torch.Tensor, lam: float) -> torch.Tensor:
    """Return lam · mean over the batch of Σ_j |h_j|, h = encoder(x)."""
    return lam * encoder(x).abs().sum(dim=1).mean()


def _l1_encoder(seed: int, d: int, units: int) -> nn.Module:
    return seeded(seed, lambda: nn.Sequential(nn.Linear(d, units)))  # a linear code: h of either sign


def _l1_mistakes(encoder: nn.Module, x: torch.Tensor, lam: float) -> list:
    h = encoder(x)  # (B, K)
    weight, bias = encoder[0].weight, encoder[0].bias
    weights = ("penalised the encoder's weights; the penalty belongs on the activations: h = encoder(x), "
               "then lam · h.abs().sum(dim=1).mean(). Sparse weights do not make a sparse code (lesson 03, "
               "section 2)")
    return [
        (weights, lambda: lam * weight.abs().sum()),
        (weights, lambda: lam * (weight.abs().sum() + bias.abs().sum())),
        (weights, lambda: lam * weight.abs().mean()),
        (weights, lambda: weight.abs().sum()),
        ("averaged over the units; sum |h_j| over the units (dim=1), then average over the batch",
         lambda: lam * h.abs().mean()),
        ("averaged over the units and summed over the batch; it is the other way round: "
         ".sum(dim=1).mean()", lambda: lam * h.abs().mean(dim=1).sum()),
        ("summed over the batch as well; sum over units (dim=1), then average over the batch (.mean())",
         lambda: lam * h.abs().sum()),
        ("left out the absolute value: codes can be negative, and an L1 penalty sums |h_j|, "
         "h.abs().sum(dim=1).mean(); without abs, negative codes lower the penalty without bound",
         lambda: lam * h.sum(dim=1).mean()),
        ("left out lam: multiply the penalty by its weight lam", lambda: h.abs().sum(dim=1).mean()),
        ("squared the activations, an L2 penalty that shrinks codes but does not make them exactly 0; "
         "use the absolute value", lambda: lam * (h**2).sum(dim=1).mean()),
        ("penalised the input x; the penalty is on the code h = encoder(x)",
         lambda: lam * x.abs().sum(dim=1).mean()),
    ]


def check_l1_activity(fn, seed: int = 0, batch: int = 8, d: int = 20, units: int = 12,
                      lam: float = 0.1) -> None:
    """Check l1_activity(encoder, x, lam) = lam · mean_i Σ_j |h_ij|, h = encoder(x) (lesson 03)."""
    name = getattr(fn, "__name__", "l1_activity")
    encoder = _l1_encoder(seed, d, units)
    x = torch.rand(batch, d, generator=torch.Generator().manual_seed(seed))
    where = f"on a batch x ({batch}×{d}) and a linear encoder with {units} units (lam = {lam}, seed {seed})"
    raw = call(name, fn, encoder=encoder, x=x, lam=lam)
    if isinstance(raw, (float, int)):
        fail(name, "returned a Python number; return the tensor (no .item()) so that loss.backward() works")
    out = expect_tensor(name, raw, (), {
        (batch,): "returned one penalty per image, shape (B,); average them over the batch with .mean()",
        (batch, units): "returned one value per activation, shape (B, K); sum over the units (dim=1), then "
                        "average over the batch",
        (units,): "returned one value per unit, shape (K,); sum over the units (dim=1) for each image, then "
                  "average over the batch"})
    with torch.no_grad():
        ref = l1_activity_reference(encoder, x, lam)
        mistakes = _l1_mistakes(encoder, x, lam)
    diagnose(name, out, ref, mistakes, where, rtol=1e-4, atol=1e-5)
    grads = torch.autograd.grad(raw, encoder[0].weight, allow_unused=True) if raw.requires_grad else (None,)
    if grads[0] is None:
        fail(name, "the penalty is cut off from autograd (.detach(), .item(), numpy or torch.no_grad()): "
                   "compute it from h = encoder(x) with torch operations so that its gradient reaches "
                   "the encoder's weights")
    passed(name, f"equals lam · Σ_j |h_j| averaged over the batch, h = encoder(x) (batch {batch}, "
                 f"{units} units, lam = {lam}, seed {seed})")
