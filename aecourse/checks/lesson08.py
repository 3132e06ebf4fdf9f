"""Checks for exercises 08 (variational autoencoders): reparameterization, the closed-form KL, the ELBO.

References come from torch.distributions (Normal, Independent, kl_divergence) and
F.binary_cross_entropy_with_logits, not from the lesson's code.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.distributions import Independent, Normal, kl_divergence

from .core import call, close, diagnose, expect_tensor, fail, passed, seeded

__all__ = ["check_reparameterize", "check_kl_normal", "check_elbo"]  # what aecourse.checks exports from here


def kl_reference(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """Return KL(N(mu, exp(log_var)) || N(0, I)) per example, summed over latent dims: (B, K) -> (B,)."""
    q = Independent(Normal(mu, torch.exp(0.5 * log_var)), 1)
    p = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    return kl_divergence(q, p)


def _codes(seed: int, batch: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return mu (B, K) ~ 1.5·N(0, 1) and log_var (B, K) in [-3, 1.5]: sigmas below and above 1."""
    g = torch.Generator().manual_seed(seed)
    mu = 1.5 * torch.randn(batch, k, generator=g)
    log_var = -3 + 4.5 * torch.rand(batch, k, generator=g)
    return mu.requires_grad_() * 1.0, log_var.requires_grad_() * 1.0  # not leaves, like an encoder's heads


def _no_number(name: str, raw) -> None:
    if isinstance(raw, (float, int)):
        fail(name, "returned a Python number; return the tensor (no .item()) so that loss.backward() works")


def _grads(raw: torch.Tensor, inputs: dict) -> dict:
    """Return {name: gradient of raw.sum() or None} for the input leaves."""
    if not raw.requires_grad:
        return dict.fromkeys(inputs)
    got = torch.autograd.grad(raw.sum(), list(inputs.values()), allow_unused=True)
    return dict(zip(inputs, got, strict=True))


# ---------------------------------------------------------------- 8.1 reparameterization

BLOCKED = ("no gradient reaches mu or log_var: sampling blocks gradients (torch.normal(mu, sigma) "
           "has zero gradient, Normal(mu, sigma).sample() none at all). Draw the noise apart, "
           "eps = torch.randn_like(mu), and return mu + sigma * eps")


ONE_EPS = ("drew one eps for the whole batch (shape (K,)): every example needs its own noise, "
           "eps = torch.randn_like(mu), shape (B, K)")


def _statistics(name: str, fn, seed: int) -> None:
    """Check the draws of many calls' worth of rows: mean mu and standard deviation exp(0.5·log_var)."""
    n = 20_000
    mu = torch.tensor([0.0, 1.0, -2.0, 0.5]).expand(n, 4).clone()
    log_var = torch.tensor([0.0, math.log(4.0), math.log(0.09), math.log(0.25)]).expand(n, 4).clone()
    z = seeded(seed + 7, lambda: call(name, fn, mu=mu, log_var=log_var))
    z = expect_tensor(name, z, (n, 4)).double()
    sigma = torch.tensor([1.0, 2.0, 0.3, 0.5], dtype=torch.float64)
    mean, std = z.mean(dim=0), z.std(dim=0)
    where = f"over {n} draws with sigma = {sigma.tolist()}"
    if (std < 1e-6).all():
        fail(name, f"added no noise {where}: z must be random, z = mu + sigma * eps with eps = torch.randn_like(mu)")
    if ((mean - mu[0]).abs() > 5 * sigma / math.sqrt(n) + 1e-3).any():
        fail(name, f"the draws have mean {[round(v, 3) for v in mean.tolist()]} {where}, expected mu = "
                   f"{mu[0].tolist()}: eps must have mean 0 (torch.randn_like, not torch.rand_like)")
    for wrong, message in ((sigma**2, "used the variance exp(log_var) as the standard deviation: sigma = "
                                      "exp(0.5 * log_var), the square root of the variance"),
                           (log_var[0].double().abs(), "used log_var itself as the standard deviation: "
                                                       "log_var is log sigma^2, so sigma = exp(0.5 * log_var)")):
        if ((std / wrong - 1).abs() < 0.04).all():
            fail(name, f"{message} (seen {where})")
    if ((std / sigma - 1).abs() > 0.04).any():
        fail(name, f"the draws have standard deviations {[round(v, 3) for v in std.tolist()]} {where}, "
                   f"expected sigma = exp(0.5 * log_var) = {sigma.tolist()}")


def check_reparameterize(fn, seed: int = 0, batch: int = 64, k: int = 8) -> None:
    """Check reparameterize(mu, log_var) = mu + exp(0.5·log_var)·eps, eps ~ N(0, I), differentiable (lesson 08)."""
    name = getattr(fn, "__name__", "reparameterize")
    mu, log_var = _codes(seed, batch, k)
    raw = seeded(seed, lambda: call(name, fn, mu=mu, log_var=log_var))
    _no_number(name, raw)
    out = expect_tensor(name, raw, (batch, k), {
        (k,): "returned one sample of shape (K,); return one z per example, shape (B, K) like mu",
        (batch,): "returned one value per example; return the whole code z, shape (B, K) like mu"})
    eps = seeded(seed, lambda: torch.randn_like(mu))  # the reference's draws
    m, lv, sigma = mu.detach(), log_var.detach(), torch.exp(0.5 * log_var.detach())
    ref = m + sigma * eps
    where = f"under torch.manual_seed({seed}), mu and log_var of shape ({batch}, {k})"
    if not close(out, ref, 1e-5, 1e-5):
        mistakes = [
            ("used the variance exp(log_var) as the standard deviation: sigma = exp(0.5 * log_var)",
             lambda: m + torch.exp(lv) * eps),
            ("used log_var itself as the standard deviation: log_var is log sigma^2, so sigma = "
             "exp(0.5 * log_var)", lambda: m + lv * eps),
            ("used exp(-0.5 * log_var), which is 1 / sigma; sigma = exp(0.5 * log_var)",
             lambda: m + torch.exp(-0.5 * lv) * eps),
            ("left out sigma: z = mu + sigma * eps with sigma = exp(0.5 * log_var)", lambda: m + eps),
            ("left out mu: z = mu + sigma * eps", lambda: sigma * eps),
            ("multiplied mu by the noise; z = mu + sigma * eps adds the scaled noise to mu",
             lambda: m * sigma * eps),
            ("returned mu without noise: the VAE samples z = mu + sigma * eps during training", lambda: m),
            (ONE_EPS, lambda: m + sigma * eps[:1]),
            ("drew uniform noise (torch.rand_like, values in [0, 1)); eps ~ N(0, 1) is torch.randn_like(mu)",
             lambda: m + sigma * seeded(seed, lambda: torch.rand_like(mu))),
        ]
        for message, make in mistakes:
            if close(out, make(), 1e-5, 1e-5):
                fail(name, f"{message} (seen {where})")
        if not torch.isfinite(out).all():
            fail(name, f"returned NaN or inf {where}")
        shared = (out - m) / sigma  # eps as the answer drew it
        if batch > 1 and shared.abs().max() > 1e-6 and torch.allclose(shared, shared[:1].expand_as(shared), atol=1e-5):
            fail(name, f"{ONE_EPS} (seen {where})")
        _statistics(name, fn, seed)
        again = seeded(seed + 1, lambda: call(name, fn, mu=mu, log_var=log_var))
        if isinstance(again, torch.Tensor) and torch.equal(again.detach(), out):
            fail(name, "returned the same z on two calls: draw new noise on every call (do not seed "
                       "inside the function)")
    grads = _grads(raw, {"mu": mu, "log_var": log_var})
    if all(g is None or not g.any() for g in grads.values()):
        fail(name, BLOCKED)
    if grads["mu"] is None or not torch.allclose(grads["mu"], torch.ones_like(m)):
        fail(name, "the gradient with respect to mu is not 1 per entry: z = mu + sigma * eps moves one "
                   "for one with mu (do not detach mu or scale it)")
    if grads["log_var"] is None or not grads["log_var"].any():
        fail(name, "no gradient reaches log_var: compute sigma = torch.exp(0.5 * log_var) from log_var "
                   "itself (no .detach(), no torch.no_grad()), so that the encoder learns its spread")
    if not torch.allclose(grads["log_var"], 0.5 * (out - m), rtol=1e-4, atol=1e-5):
        fail(name, "the gradient with respect to log_var is not 0.5 * sigma * eps: build z as "
                   "mu + torch.exp(0.5 * log_var) * eps with eps drawn apart from mu and log_var")
    passed(name, f"z = mu + exp(0.5 · log_var) · eps with fresh N(0, I) noise, gradients reach mu and "
                 f"log_var (batch {batch}, {k} latent dims, seed {seed})")


# ---------------------------------------------------------------- 8.2 the closed-form KL


def _kl_mistakes(m: torch.Tensor, lv: torch.Tensor) -> list:
    var, sigma, k = lv.exp(), torch.exp(0.5 * lv), m.shape[1]
    ref = 0.5 * (m**2 + var - 1 - lv).sum(dim=1)
    fix = ("; log_var is already log sigma², and sigma² = log_var.exp(): "
           "KL = 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum(dim=1)")
    mistakes = [
        ("the KL has the wrong sign: KL = +0.5 · Σ_k (mu_k² + sigma_k² − 1 − log sigma_k²) is never negative",
         lambda: -ref),
        ("left out the factor 1/2: KL = 0.5 · Σ_k (mu_k² + sigma_k² − 1 − log sigma_k²)", lambda: 2 * ref),
        ("subtracted sigma in the last term, where log sigma² belongs" + fix,
         lambda: 0.5 * (m**2 + var - 1 - sigma).sum(dim=1)),
        ("used sigma = exp(0.5 · log_var) in the second term, where sigma² = exp(log_var) belongs" + fix,
         lambda: 0.5 * (m**2 + sigma - 1 - lv).sum(dim=1)),
        ("used log sigma = 0.5 · log_var in the last term, where log sigma² = log_var belongs" + fix,
         lambda: 0.5 * (m**2 + var - 1 - 0.5 * lv).sum(dim=1)),
        ("used sigma² = exp(log_var) in the last term, where log sigma² = log_var belongs" + fix,
         lambda: 0.5 * (m**2 - 1).sum(dim=1)),
        ("treated log_var as sigma" + fix, lambda: 0.5 * (m**2 + lv**2 - 1 - torch.log(lv**2)).sum(dim=1)),
        ("treated log_var as the variance sigma²" + fix,
         lambda: 0.5 * (m**2 + lv - 1 - torch.log(lv)).sum(dim=1)),
        ("left out the − 1 inside the sum (one per latent dimension)", lambda: ref + 0.5 * k),
        ("left out mu²: the KL grows as the mean moves away from 0", lambda: 0.5 * (var - 1 - lv).sum(dim=1)),
        ("computed KL(p(z) || q(z | x)), the arguments swapped; the ELBO's term is KL(q(z | x) || p(z)) = "
         "0.5 · Σ_k (mu_k² + sigma_k² − 1 − log sigma_k²)",
         lambda: 0.5 * ((1 + m**2) / var - 1 + lv).sum(dim=1)),
    ]
    if k > 1:
        mistakes.insert(2, ("averaged over the latent dimensions; the KL of independent dimensions is their "
                            "sum: .sum(dim=1)", lambda: ref / k))
    return mistakes


def check_kl_normal(fn, seed: int = 0, batch: int = 8, k: int = 4) -> None:
    """Check kl_normal(mu, log_var) = KL(N(mu, sigma²) || N(0, I)) per example, (B,) (lesson 08)."""
    name = getattr(fn, "__name__", "kl_normal")
    mu, log_var = _codes(seed, batch, k)
    raw = call(name, fn, mu=mu, log_var=log_var)
    _no_number(name, raw)
    out = expect_tensor(name, raw, (batch,), {
        (batch, k): "returned one KL per latent dimension, shape (B, K); sum over the latent dimensions "
                    "(.sum(dim=1)) for one KL per example",
        (): "returned one number for the batch; return one KL per example, shape (B,): sum over the latent "
            "dimensions only (.sum(dim=1)); the loss averages over the batch later",
        (k,): "returned one value per latent dimension, shape (K,); sum over the latent dimensions (dim=1), "
              "not over the batch (dim=0)"})
    with torch.no_grad():
        ref = kl_reference(mu, log_var)
        mistakes = _kl_mistakes(mu.detach(), log_var.detach())
    where = f"on mu, log_var of shape ({batch}, {k}) with sigmas from 0.2 to 2.1 (seed {seed})"
    diagnose(name, out, ref, mistakes, where, rtol=1e-4, atol=1e-4)
    grads = _grads(raw, {"mu": mu, "log_var": log_var})
    if any(g is None or not g.any() for g in grads.values()):
        fail(name, "the KL is cut off from autograd (.detach(), .item(), numpy or torch.no_grad()): compute "
                   "it from mu and log_var with torch operations, so that its gradient reaches the encoder")
    passed(name, f"equals torch.distributions.kl_divergence(q, N(0, I)) summed over {k} latent dims, "
                 f"one per example (batch {batch}, seed {seed})")


# ---------------------------------------------------------------- 8.3 the ELBO


def _elbo_inputs(seed: int, batch: int, d: int, k: int):
    g = torch.Generator().manual_seed(seed + 100)
    logits = (3 * torch.randn(batch, d, generator=g)).requires_grad_() * 1.0  # not a leaf
    x = torch.bernoulli(torch.full((batch, d), 0.3), generator=g)  # a binarized batch
    mu, log_var = _codes(seed, batch, k)
    return logits, x, mu, log_var


def _probe(name: str, fn, args: dict) -> None:
    """Run fn on copies; name the one crash with a known cause (logits given to a probabilities loss)."""
    try:
        with torch.no_grad():
            fn(*[a.detach().clone() if isinstance(a, torch.Tensor) else a for a in args.values()])
    except (RuntimeError, ValueError) as err:
        if "between 0 and 1" in str(err):
            fail(name, "passed the logits to F.binary_cross_entropy, which expects probabilities in [0, 1]; "
                       "use F.binary_cross_entropy_with_logits(logits, x, reduction='none'), which applies "
                       "the sigmoid inside, stably", err)
    except Exception:
        pass  # call() reports it


def _elbo_case(name: str, fn, seed: int, batch: int, d: int, k: int, beta: float) -> None:
    logits, x, mu, log_var = _elbo_inputs(seed, batch, d, k)
    args = {"logits": logits, "x": x, "mu": mu, "log_var": log_var, "beta": beta}
    _probe(name, fn, args)
    raw = call(name, fn, **args)
    _no_number(name, raw)
    out = expect_tensor(name, raw, (), {
        (batch,): "returned one loss per image, shape (B,); average over the batch with .mean()",
        (batch, d): "returned a loss per pixel, shape (B, D); sum over the pixels, add beta times the KL "
                    "summed over the latent dims, then average over the batch"})
    with torch.no_grad():
        lg, m, lv = logits.detach(), mu.detach(), log_var.detach()
        rec = F.binary_cross_entropy_with_logits(lg, x, reduction="none")  # (B, D): −log p(x_i | z)
        kl = 0.5 * (m**2 + lv.exp() - 1 - lv)  # (B, K)
        ref = (rec.sum(dim=1) + beta * kl_reference(m, lv)).mean()
    r, q = rec.sum(dim=1), kl.sum(dim=1)  # per example
    mistakes = [
        ("returned the ELBO itself; the loss to minimise is its negative: "
         "−log p(x | z) + beta · KL, averaged over the batch", lambda: -ref),
        ("the KL term has the wrong sign: the loss is reconstruction + beta · KL (the ELBO subtracts the KL, "
         "its negative adds it)", lambda: (r - beta * q).mean()),
        ("averaged the reconstruction term over the pixels (binary_cross_entropy_with_logits' default "
         "reduction='mean'); sum it over the pixels: reduction='none', then .sum(dim=1)",
         lambda: rec.mean() + beta * q.mean()),
        ("averaged both terms over their dimensions (pixels, latent dims); sum each per example, then "
         "average over the batch", lambda: rec.mean() + beta * kl.mean()),
        ("averaged the KL over the latent dimensions; sum it over them (.sum(dim=1)), then average over "
         "the batch", lambda: (r + beta * kl.mean(dim=1)).mean()),
        ("summed over the batch; average the per-example loss over the batch (.mean())",
         lambda: (r + beta * q).sum()),
        ("summed the reconstruction term over the batch as well; average it over the batch like the KL",
         lambda: r.sum() + beta * q.mean()),
        ("summed the KL over the batch as well; average it over the batch like the reconstruction term",
         lambda: r.mean() + beta * q.sum()),
        ("used the probabilities sigmoid(logits) as logits (a sigmoid twice): give the raw logits to "
         "binary_cross_entropy_with_logits", lambda: (F.binary_cross_entropy_with_logits(
             torch.sigmoid(lg), x, reduction="none").sum(dim=1) + beta * q).mean()),
        ("computed the squared error; the VAE's reconstruction term is the Bernoulli negative "
         "log-likelihood, binary_cross_entropy_with_logits(logits, x)",
         lambda: (((torch.sigmoid(lg) - x) ** 2).sum(dim=1) + beta * q).mean()),
    ]
    if beta != 1:
        mistakes += [
            (f"left out beta (here beta = {beta}): the KL term is beta · KL", lambda: (r + q).mean()),
            ("put beta on the reconstruction term; it weighs the KL: reconstruction + beta · KL",
             lambda: (beta * r + q).mean()),
        ]
    where = f"on a binarized batch ({batch}×{d}), {k} latent dims, beta = {beta} (seed {seed})"
    if not close(out, ref, 1e-4, 1e-3):
        for message, make in mistakes:
            if close(out, make(), 1e-4, 1e-3):
                fail(name, f"{message} (seen {where})")
        if beta != 0:  # which term is off? the answer with beta = 0 is its reconstruction term alone
            recon_only = call(name, fn, **{**args, "beta": 0.0})
            if isinstance(recon_only, torch.Tensor) and recon_only.shape == ():
                if close(recon_only.detach(), r.mean(), 1e-4, 1e-3):
                    fail(name, f"the reconstruction term is right, the KL term is not (seen {where}): "
                               "KL = 0.5 · Σ_k (mu_k² + exp(log_var_k) − 1 − log_var_k) per example, "
                               "times beta, averaged over the batch")
                known = [("it is averaged over the pixels; sum it over them", rec.mean()),
                         ("it is summed over the batch; average it over the batch", r.sum()),
                         ("it has the wrong sign", -r.mean()),
                         ("it takes sigmoid(logits) as logits (a sigmoid twice)",
                          F.binary_cross_entropy_with_logits(torch.sigmoid(lg), x, reduction="none").sum(dim=1).mean()),
                         ("it is the squared error", ((torch.sigmoid(lg) - x) ** 2).sum(dim=1).mean())]
                why = next((w for w, v in known if close(recon_only.detach(), v, 1e-4, 1e-3)), "")
                fail(name, f"the reconstruction term is wrong{': ' + why if why else ''} (seen {where}, "
                           "with beta = 0); it is binary_cross_entropy_with_logits(logits, x, "
                           "reduction='none').sum(dim=1), averaged over the batch")
        diagnose(name, out, ref, [], where, rtol=1e-4, atol=1e-3)
    grads = _grads(raw, {"logits": logits, "mu": mu, "log_var": log_var})
    cut = [key for key, g in grads.items() if g is None or not g.any()]
    if cut and beta != 0:
        fail(name, f"no gradient reaches {', '.join(cut)}: compute the loss from the tensors with torch "
                   "operations (no .detach(), .item(), numpy or torch.no_grad())")


def check_elbo(fn, seed: int = 0, batch: int = 8, d: int = 784, k: int = 4, beta: float = 1.0) -> None:
    """Check vae_loss(logits, x, mu, log_var, beta): the negative ELBO averaged over the batch (lesson 08)."""
    name = getattr(fn, "__name__", "vae_loss")
    _elbo_case(name, fn, seed, batch, d, k, beta)
    _elbo_case(name, fn, seed + 1, max(batch // 2, 1), d, k, 3.0 if beta == 1 else 1.0)
    passed(name, f"−log p(x | z) summed over pixels + beta · KL summed over latent dims, averaged over "
                 f"the batch (batch {batch}, {d} pixels, {k} latent dims, beta = {beta}, seed {seed})")
