"""Checks for exercises 08 (variational autoencoders): the reparameterization, the KL between two diagonal
Gaussians, a Gaussian decoder's log-likelihood, two predictions and the beta experiment.

References come from torch.distributions (Normal, Independent, kl_divergence, log_prob), not from the
lesson's code. Messages name a mistake only when the answer matches it; they never print a reference formula.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import (
    Independent,
    LowRankMultivariateNormal,
    MultivariateNormal,
    Normal,
    kl_divergence,
)
from torch.distributions import kl as _kl_module

from .core import (
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

__all__ = ["check_reparameterize", "check_kl_diag_gaussians", "check_gaussian_log_likelihood",
           "check_prediction_8_4", "check_prediction_8_5", "check_beta_rate", "vae_rate",
           "iwae_toy"]  # what aecourse.checks exports from here


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
    """Return {name: gradient of raw.sum() or None} for the inputs."""
    if not raw.requires_grad:
        return dict.fromkeys(inputs)
    got = torch.autograd.grad(raw.sum(), list(inputs.values()), allow_unused=True)
    return dict(zip(inputs, got, strict=True))


class _Banned(Exception):
    """Raised inside a probe when the answer calls a library function the exercise asks it to derive."""


def _banned_probe(name: str, fn: Callable, args: dict, patches: list, message: str) -> None:
    """Run fn once with each (owner, attribute) replaced by a trap; fail with message if a trap fires.

    The trap sits where every alias of the library function finally looks it up (a class's method, a
    module's dispatch table), so importing the function under another name does not hide it.
    """
    saved = [(owner, attr, getattr(owner, attr)) for owner, attr in patches]

    def trap(*_, **__):
        raise _Banned

    try:
        for owner, attr, value in saved:
            setattr(owner, attr, {} if isinstance(value, dict) else trap)
        with torch.no_grad():
            fn(*[a.detach().clone() if isinstance(a, torch.Tensor) else a for a in args.values()])
    except _Banned:
        fail(name, message)
    except Exception:
        pass  # core.call reports it
    finally:
        for owner, attr, value in saved:
            setattr(owner, attr, value)


# ---------------------------------------------------------------- 8.1 reparameterization

BLOCKED = ("no gradient reaches mu or log_var: a sampled value carries no gradient to its parameters "
           "(torch.normal's derivative is defined as zero, Normal(...).sample() is cut off from autograd, "
           "and rsample is the method that keeps the graph). Draw the standard normal noise apart and build z "
           "from mu, log_var and that noise with differentiable operations")

ONE_EPS = ("drew one noise vector for the whole batch (shape (K,) or (1, K)): every example needs its own "
           "noise, one number per entry of mu")

ONE_EPS_DIMS = ("drew one noise number per example and shared it by all latent dimensions (shape (B, 1)): "
                "each latent dimension needs its own independent noise, one number per entry of mu")

ONE_EPS_ALL = ("drew a single noise number for every entry (the whole batch and all latent dimensions); "
               "draw one independent number per entry of mu")


def _statistics(name: str, fn, seed: int) -> None:
    """Check the draws of many calls' worth of rows: mean mu and standard deviation exp(0.5·log_var)."""
    n = 20_000
    sigma = torch.tensor([1.5, 2.0, 0.3, 0.5], dtype=torch.float64)  # no sigma of 1, no log_var of 0
    mu = torch.tensor([0.0, 1.0, -2.0, 0.5]).expand(n, 4).clone()
    log_var = torch.log(sigma**2).float().expand(n, 4).clone()
    z = seeded(seed + 7, lambda: call(name, fn, mu=mu, log_var=log_var))
    z = expect_tensor(name, z, (n, 4)).double()
    mean, std = z.mean(dim=0), z.std(dim=0)
    where = f"over {n} draws with mu = {mu[0].tolist()}, sigma = {sigma.tolist()}"
    if (std < 1e-6).all():
        fail(name, f"added no noise {where}: z must be random, a new draw on every call")
    shown = f"means {[round(v, 3) for v in mean.tolist()]}, standard deviations {[round(v, 3) for v in std.tolist()]}"
    lv = log_var[0].double()
    wrong_sds = (
        (sigma**2, "used the variance exp(log_var) as the standard deviation; sigma is the square root of the "
                   "variance"),
        (lv.abs(), "used log_var itself as the standard deviation; log_var is the log of the variance"),
        (lv.abs().sqrt(), "took the square root of log_var (of its absolute value) as the standard deviation; "
                          "log_var is the LOG of the variance: sigma is the square root of exp(log_var)"),
        (1 / sigma, "used 1 / sigma as the standard deviation (exp of minus half the log-variance)"),
    )
    mean_ok = ((mean - mu[0]).abs() <= 5 * torch.maximum(std, sigma) / math.sqrt(n) + 1e-3).all()
    uniform = (((mean - mu[0]) / sigma - 0.5).abs() < 0.03).all() and ((std / sigma * math.sqrt(12) - 1).abs() < 0.04).all()
    if uniform:
        fail(name, f"drew uniform noise (torch.rand_like, values in [0, 1)); the noise is standard normal, "
                   f"torch.randn_like (seen {where}: {shown})")
    for wrong, message in wrong_sds:
        if mean_ok and ((std / wrong - 1).abs() < 0.04).all():
            fail(name, f"{message} (seen {where}: {shown})")
    if not mean_ok or ((std / sigma - 1).abs() > 0.04).any():
        fail(name, f"the draws do not follow N(mu, sigma²) {where}: {shown}, expected means {mu[0].tolist()} "
                   f"and standard deviations {sigma.tolist()}")


def _shared_noise(out: torch.Tensor, m: torch.Tensor, sigma: torch.Tensor) -> str | None:
    """Return the message of a noise draw shared by rows, columns or both, judged on eps = (z - mu) / sigma."""
    eps = (out.double() - m.double()) / sigma.double()
    if eps.abs().max() < 1e-6:
        return None
    rows = eps.shape[0] > 1 and torch.allclose(eps, eps[:1].expand_as(eps), atol=1e-4)
    cols = eps.shape[1] > 1 and torch.allclose(eps, eps[:, :1].expand_as(eps), atol=1e-4)
    if rows and cols:
        return ONE_EPS_ALL
    return ONE_EPS if rows else ONE_EPS_DIMS if cols else None


def check_reparameterize(fn, seed: int = 0, batch: int = 64, k: int = 8) -> None:
    """Check reparameterize(mu, log_var): a fresh N(mu, sigma²) draw per entry that gradients pass through (lesson 08)."""
    name = getattr(fn, "__name__", "reparameterize")
    mu, log_var = _codes(seed, batch, k)
    raw = seeded(seed, lambda: call(name, fn, mu=mu, log_var=log_var))
    _no_number(name, raw)
    out = expect_tensor(name, raw, (batch, k), {
        (k,): "returned one sample of shape (K,); return one z per example, shape (B, K) like mu",
        (batch,): "returned one value per example; return the whole code z, shape (B, K) like mu"},
        dtype=mu.dtype)
    eps = seeded(seed, lambda: torch.randn_like(mu))  # the reference's draws
    m, lv, sigma = mu.detach(), log_var.detach(), torch.exp(0.5 * log_var.detach())
    ref = m + sigma * eps
    where = f"under torch.manual_seed({seed}), mu and log_var of shape ({batch}, {k})"
    if not close(out, ref, 1e-5, 1e-5):
        mistakes = [
            ("used the variance exp(log_var) as the standard deviation; sigma is the square root of the "
             "variance", lambda: m + torch.exp(lv) * eps),
            ("used log_var itself as the standard deviation; log_var is the log of the variance",
             lambda: m + lv * eps),
            ("took the square root of log_var (of its absolute value) as the standard deviation; log_var is the "
             "LOG of the variance: sigma is the square root of exp(log_var)", lambda: m + lv.abs().sqrt() * eps),
            ("took the square root of log_var as the standard deviation (NaN wherever log_var < 0); log_var is "
             "the LOG of the variance: sigma is the square root of exp(log_var)", lambda: m + lv.sqrt() * eps),
            ("used 1 / sigma as the standard deviation (exp of minus half the log-variance)",
             lambda: m + torch.exp(-0.5 * lv) * eps),
            ("left out sigma: the noise must be scaled by the standard deviation", lambda: m + eps),
            ("left out mu: the scaled noise is added to the mean", lambda: sigma * eps),
            ("multiplied mu by the noise; the scaled noise is added to mu", lambda: m * sigma * eps),
            ("returned mu without noise: the VAE samples z during training", lambda: m),
            (ONE_EPS, lambda: m + sigma * eps[:1]),
            ("drew uniform noise (torch.rand_like, values in [0, 1)); the noise is standard normal, "
             "torch.randn_like", lambda: m + sigma * seeded(seed, lambda: torch.rand_like(mu))),
        ]
        for message, make in mistakes:
            if close(out, make(), 1e-5, 1e-5):
                fail(name, f"{message} (seen {where})")
        if not torch.isfinite(out).all():
            fail(name, f"returned NaN or inf {where}")
        shared = _shared_noise(out, m, sigma)
        if shared:
            fail(name, f"{shared} (seen {where})")
        _statistics(name, fn, seed)
        again = seeded(seed + 1, lambda: call(name, fn, mu=mu, log_var=log_var))
        if isinstance(again, torch.Tensor) and torch.equal(again.detach(), out):
            fail(name, "returned the same z on two calls: draw new noise on every call (do not fix the "
                       "random state inside the function)")
    grads = _grads(raw, {"mu": mu, "log_var": log_var})
    if all(g is None or not g.any() for g in grads.values()):
        fail(name, BLOCKED)
    if grads["mu"] is None or not torch.allclose(grads["mu"], torch.ones_like(m)):
        fail(name, "the gradient with respect to mu is not 1 per entry: z moves one for one with mu "
                   "(do not detach mu or scale it)")
    if grads["log_var"] is None or not grads["log_var"].any():
        fail(name, "no gradient reaches log_var: compute sigma from log_var itself (no .detach(), no "
                   "torch.no_grad()), so that the encoder learns its spread")
    if not torch.allclose(grads["log_var"], 0.5 * (out - m), rtol=1e-4, atol=1e-5):
        fail(name, "the gradient with respect to log_var is not what a draw scaled by sigma = "
                   "exp(0.5 * log_var) gives: draw the noise apart from mu and log_var, then scale and shift it")
    check_device(name, fn, mu=mu, log_var=log_var)
    passed(name, f"one fresh N(0, 1) number per entry, scaled by sigma and shifted by mu; gradients reach mu "
                 f"and log_var (batch {batch}, {k} latent dims, seed {seed})")


# ---------------------------------------------------------------- 8.2 the KL between two diagonal Gaussians

KL_BANNED = ("called torch.distributions.kl_divergence (under some name): this exercise asks you to derive "
             "the closed form and write it with tensor operations; the check compares it with kl_divergence")


def kl_diag_reference(mu_q, log_var_q, mu_p, log_var_p) -> torch.Tensor:
    """Return KL(N(mu_q, exp(log_var_q)) || N(mu_p, exp(log_var_p))) summed over the last dim: (B, K) -> (B,)."""
    q = Independent(Normal(mu_q, torch.exp(0.5 * log_var_q)), 1)
    p = Independent(Normal(mu_p, torch.exp(0.5 * log_var_p)), 1)
    return kl_divergence(q, p)


def _kl2_inputs(seed: int, batch: int, k: int):
    g = torch.Generator().manual_seed(seed + 50)
    mu_q, log_var_q = _codes(seed, batch, k)
    mu_p = (torch.randn(batch, k, generator=g) - 0.5).requires_grad_() * 1.0
    log_var_p = (-2 + 3.5 * torch.rand(batch, k, generator=g)).requires_grad_() * 1.0
    return {"mu_q": mu_q, "log_var_q": log_var_q, "mu_p": mu_p, "log_var_p": log_var_p}


def _kl2_mistakes(mq, lq, mp, lp) -> list:
    vq, vp, sq, sp, k = lq.exp(), lp.exp(), (0.5 * lq).exp(), (0.5 * lp).exp(), mq.shape[1]
    d2 = (mq - mp) ** 2

    def kl(log_ratio, var_term, mean_term, minus=1.0, half=0.5):
        return (half * (log_ratio + var_term + mean_term - minus)).sum(dim=1)

    ref = kl(lp - lq, vq / vp, d2 / vp)
    mistakes = [
        ("computed KL(p || q), the arguments swapped: the KL is not symmetric, and the first argument is "
         "the distribution the expectation is taken under (here q)", lambda: kl(lq - lp, vp / vq, d2 / vq)),
        ("the KL has the wrong sign: it is never negative", lambda: -ref),
        ("left out the overall factor 1/2", lambda: 2 * ref),
        ("the log-variance term has the wrong sign: the log of sigma_p / sigma_q enters, not of "
         "sigma_q / sigma_p", lambda: kl(lq - lp, vq / vp, d2 / vp)),
        ("did not divide the squared mean difference by the prior's variance sigma_p²",
         lambda: kl(lp - lq, vq / vp, d2)),
        ("did not divide q's variance by the prior's variance sigma_p²", lambda: kl(lp - lq, vq, d2 / vp)),
        ("divided by q's variance where the prior's variance sigma_p² belongs",
         lambda: kl(lp - lq, vq / vq, d2 / vq)),
        ("used the ratio of standard deviations sigma_q / sigma_p where the ratio of variances belongs",
         lambda: kl(lp - lq, sq / sp, d2 / vp)),
        ("divided the squared mean difference by sigma_p, not by the variance sigma_p²",
         lambda: kl(lp - lq, vq / vp, d2 / sp)),
        ("halved the log-variance term twice: the log of the variance ratio enters whole inside the 1/2",
         lambda: kl(0.5 * (lp - lq), vq / vp, d2 / vp)),
        ("left out the − 1 (one per latent dimension)", lambda: kl(lp - lq, vq / vp, d2 / vp, minus=0.0)),
        ("added the means where their difference belongs (mu_q − mu_p)",
         lambda: kl(lp - lq, vq / vp, (mq + mp) ** 2 / vp)),
        ("ignored the prior's mean and variance: that is the KL to N(0, I), a special case",
         lambda: kl(-lq, vq, mq**2)),
        ("left out the squared mean difference: the KL grows as the means move apart",
         lambda: kl(lp - lq, vq / vp, 0 * d2)),
        ("did not square the mean difference (mu_q − mu_p)", lambda: kl(lp - lq, vq / vp, (mq - mp) / vp)),
        ("subtracted the 1 once per example; it comes once per latent dimension",
         lambda: kl(lp - lq, vq / vp, d2 / vp, minus=0.0) - 0.5),
        ("divided by the log-variance log_var_p as if it were the variance", lambda: kl(lp - lq, vq / lp, d2 / lp)),
        ("divided q's variance by sigma_p, not by the variance sigma_p²", lambda: kl(lp - lq, vq / sp, d2 / vp)),
        ("returned the cross-entropy −E_q[log p(z)] alone; the KL also subtracts q's entropy (and the "
         "constants cancel)", lambda: (0.5 * (math.log(2 * math.pi) + lp + (vq + d2) / vp)).sum(dim=1)),
    ]
    if k > 1:
        mistakes.insert(3, ("averaged over the latent dimensions; the KL of independent dimensions is "
                            "their sum", lambda: ref / k))
    return mistakes


def check_kl_diag_gaussians(fn, seed: int = 0, batch: int = 8, k: int = 4) -> None:
    """Check kl_diag_gaussians(mu_q, log_var_q, mu_p, log_var_p) = KL(q || p) per example, (B,) (lesson 08)."""
    name = getattr(fn, "__name__", "kl_diag_gaussians")
    args = _kl2_inputs(seed, batch, k)
    _banned_probe(name, fn, args, [(_kl_module, "_KL_MEMOIZE"), (_kl_module, "_dispatch_kl")], KL_BANNED)
    raw = call(name, fn, **args)
    _no_number(name, raw)
    out = expect_tensor(name, raw, (batch,), {
        (batch, k): "returned one KL per latent dimension, shape (B, K); sum over the latent dimensions "
                    "for one KL per example",
        (): "returned one number for the batch; return one KL per example, shape (B,): sum over the latent "
            "dimensions only",
        (k,): "returned one value per latent dimension, shape (K,); sum over the latent dimensions (dim=1), "
              "not over the batch (dim=0)"}, dtype=args["mu_q"].dtype)
    d = {key: v.detach() for key, v in args.items()}
    with torch.no_grad():
        ref = kl_diag_reference(d["mu_q"], d["log_var_q"], d["mu_p"], d["log_var_p"])
        mistakes = _kl2_mistakes(d["mu_q"], d["log_var_q"], d["mu_p"], d["log_var_p"])
    where = f"on inputs of shape ({batch}, {k}), q and p with different means and variances (seed {seed})"
    diagnose(name, out, ref, mistakes, where, rtol=1e-4, atol=1e-4)
    grads = _grads(raw, args)
    cut = [key for key, g in grads.items() if g is None or not g.any()]
    if cut:
        fail(name, f"no gradient reaches {', '.join(cut)}: compute the KL with torch operations on the inputs "
                   "(no .detach(), .item(), numpy or torch.no_grad()), so that training can use it")
    check_device(name, fn, **args)
    passed(name, f"equals torch.distributions.kl_divergence(q, p) summed over {k} latent dims, one per "
                 f"example, with gradients to all four inputs (batch {batch}, seed {seed})")


# ---------------------------------------------------------------- 8.3 a Gaussian decoder's log-likelihood

LL_BANNED = ("called the log_prob of a torch.distributions distribution (Normal, Independent, MultivariateNormal "
             "or LowRankMultivariateNormal, under some name): the check compares with "
             "Independent(Normal(mean, sigma), 1).log_prob(x), so this exercise asks you to write the Gaussian "
             "log-density with tensor operations (F.gaussian_nll_loss is allowed)")


def _ll_inputs(seed: int, batch: int, d: int):
    g = torch.Generator().manual_seed(seed + 200)
    x = torch.rand(batch, d, generator=g)  # grey levels in [0, 1]
    mean = (torch.rand(batch, d, generator=g) * 1.4 - 0.2).requires_grad_() * 1.0
    log_var = (-4 + 4.5 * torch.rand(batch, d, generator=g)).requires_grad_() * 1.0
    return {"x": x, "mean": mean, "log_var": log_var}


def _ll_mistakes(x, m, lv, ref) -> list:
    d = x.shape[1]
    var, sd, sq, c = lv.exp(), (0.5 * lv).exp(), (x - m) ** 2, math.log(2 * math.pi)

    def ll(const, log_term, square, half=0.5):
        return (-half * (const + log_term + square)).sum(dim=1)

    return [
        ("returned the negative log-likelihood; the log-likelihood of a density is mostly negative here, "
         "and maximising it is minimising its negative", lambda: -ref),
        ("left out the constant log(2π) per pixel: it does not change the gradient, but the "
         "log-likelihood is then off by D/2 · log(2π)", lambda: ll(0, lv, sq / var)),
        ("left out the log-variance term: with a learned variance it is what stops the variance from "
         "growing without limit", lambda: ll(c, 0, sq / var)),
        ("divided the squared error by sigma, not by the variance sigma²", lambda: ll(c, lv, sq / sd)),
        ("multiplied the squared error by the variance; it is divided by it", lambda: ll(c, lv, sq * var)),
        ("left out the factor 1/2", lambda: ll(c, lv, sq / var, half=1.0)),
        ("used the log-variance where the log of the standard deviation belongs (the log term is twice too "
         "large)", lambda: ll(c, 2 * lv, sq / var)),
        ("left out the variance altogether: that is the log-density of a unit variance",
         lambda: ll(c, 0, sq)),
        ("divided by the log-variance as if it were the variance", lambda: ll(c, torch.log(lv.abs()), sq / lv)),
        ("averaged over the pixels; the log-likelihood of independent pixels is their sum",
         lambda: ref / d),
        ("used log(π) where log(2π) belongs", lambda: ll(math.log(math.pi), lv, sq / var)),
        ("the squared-error term has the wrong sign: the further x lies from the mean, the LOWER its "
         "log-likelihood", lambda: ll(c, lv, -sq / var)),
        ("did not halve the constant log(2π): the factor 1/2 applies to it too",
         lambda: ll(2 * c, lv, sq / var)),
        ("halved the log-variance term twice (log σ² = 2·log σ, so the half is taken once)",
         lambda: ll(c, 0.5 * lv, sq / var)),
        ("divided the squared error by 2σ² inside the overall factor −½: the ½ is counted twice",
         lambda: ll(c, lv, sq / (2 * var))),
        ("treated log_var as the log of the standard deviation; it is the log of the variance σ²",
         lambda: ll(c, 2 * lv, sq / (2 * lv).exp())),
        ("used the variance where its log belongs (the normalising term holds log σ²)",
         lambda: ll(c, var, sq / var)),
    ]


def check_gaussian_log_likelihood(fn, seed: int = 0, batch: int = 6, d: int = 10) -> None:
    """Check gaussian_log_likelihood(x, mean, log_var) = log N(x; mean, diag exp(log_var)) per example (lesson 08)."""
    name = getattr(fn, "__name__", "gaussian_log_likelihood")
    args = _ll_inputs(seed, batch, d)
    _banned_probe(name, fn, args, [(Normal, "log_prob"), (MultivariateNormal, "log_prob"),
                                   (LowRankMultivariateNormal, "log_prob"), (Independent, "log_prob")], LL_BANNED)
    raw = call(name, fn, **args)
    _no_number(name, raw)
    out = expect_tensor(name, raw, (batch,), {
        (batch, d): "returned one log-density per pixel, shape (B, D); sum over the pixels for one "
                    "log-likelihood per example",
        (): "returned one number for the batch; return one log-likelihood per example, shape (B,)",
        (d,): "returned one value per pixel, shape (D,); sum over the pixels (dim=1), not over the batch"},
        dtype=args["x"].dtype)
    x, m, lv = (args[key].detach() for key in ("x", "mean", "log_var"))
    with torch.no_grad():
        ref = Independent(Normal(m, torch.exp(0.5 * lv)), 1).log_prob(x)
    mistakes = _ll_mistakes(x, m, lv, ref)
    where = f"on x, mean, log_var of shape ({batch}, {d}) with variances from 0.02 to 1.6 (seed {seed})"
    diagnose(name, out, ref, mistakes, where, rtol=1e-4, atol=1e-4)
    grads = _grads(raw, {"mean": args["mean"], "log_var": args["log_var"]})
    cut = [key for key, g in grads.items() if g is None or not g.any()]
    if cut:
        fail(name, f"no gradient reaches {', '.join(cut)}: compute the log-likelihood with torch operations "
                   "(no .detach(), .item(), numpy or torch.no_grad()): the decoder learns its mean and its "
                   "variance through it")
    check_device(name, fn, **args)
    passed(name, f"equals Independent(Normal(mean, sigma), 1).log_prob(x) for {d} pixels, one per example, "
                 f"with gradients to mean and log_var (batch {batch}, seed {seed})")


# ---------------------------------------------------------------- a small VAE for 8.4 and 8.6

RATE_N_TRAIN, RATE_N_VAL, RATE_K, RATE_HIDDEN, RATE_EPOCHS, RATE_BATCH = 2_000, 1_000, 16, 128, 4, 100


@functools.lru_cache(maxsize=1)
def _rate_data() -> tuple[torch.Tensor, torch.Tensor]:
    """Return 2,000 training and 1,000 held-out validation MNIST images, binarized once (fixed), on the CPU."""
    from aecourse.data import load_mnist

    x_train, _ = load_mnist("train", flatten=True)
    g = torch.Generator().manual_seed(0)
    return (torch.bernoulli(x_train[:RATE_N_TRAIN], generator=g),
            torch.bernoulli(validation_digits(RATE_N_VAL), generator=g))


def _train_rate(beta: float, train: torch.Tensor, val: torch.Tensor) -> dict:
    """Train the small VAE with this beta on `train`; return its KL and reconstruction on `val`, in nats."""
    k, h = RATE_K, RATE_HIDDEN
    d = train.shape[1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        encoder = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, 2 * k))
        decoder = nn.Sequential(nn.Linear(k, h), nn.ReLU(), nn.Linear(h, d))
        optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=2e-3)
        with torch.enable_grad():
            for _ in range(RATE_EPOCHS):
                for idx in torch.randperm(len(train)).split(RATE_BATCH):
                    xb = train[idx]
                    mu, log_var = encoder(xb).chunk(2, dim=1)
                    z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
                    recon = F.binary_cross_entropy_with_logits(decoder(z), xb, reduction="none").sum(dim=1)
                    kl = 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum(dim=1)
                    loss = (recon + beta * kl).mean()
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
        with torch.no_grad():
            mu, log_var = encoder(val).chunk(2, dim=1)
            kl = 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum(dim=1)
            recon = F.binary_cross_entropy_with_logits(decoder(mu), val, reduction="none").sum(dim=1)
    return {"beta": beta, "kl": kl.mean().item(), "recon": recon.mean().item()}


@functools.lru_cache(maxsize=64)
def _rate_cached(beta: float) -> tuple:
    return tuple(_train_rate(beta, *_rate_data()).items())


def vae_rate(beta: float) -> dict:
    """Train the small VAE of exercises 8.4 and 8.6 with this beta; return its validation KL and reconstruction (lesson 08).

    The same run every time for one beta (fixed data, initialisation and noise; a few seconds on a CPU):
    784-128-(16 mu, 16 log_var) encoder, 16-128-784 decoder, 4 epochs of Adam on 2,000 binarized
    training images. Returns {"beta", "kl", "recon"}: the KL to N(0, I) and the Bernoulli
    reconstruction error (decoding mu) on 1,000 binarized held-out validation images (core.validation_digits:
    training images it never trained on), in nats per image.
    """
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not math.isfinite(beta) or beta < 0:
        raise ValueError(f"beta must be a non-negative number, got {beta!r}")
    return dict(_rate_cached(float(beta)))


# ---------------------------------------------------------------- 8.4 predict: beta > 1

WHY_8_4 = {
    "A": "the KL is multiplied by beta in the loss, so with beta = 4 each nat of information in the code costs "
         "four times as much: the encoder sends less (a smaller KL) and the decoder, knowing less about each "
         "image, reconstructs it worse",
    "B": "both cannot improve together here: beta only reweighs the two terms, so the optimum moves along the "
         "trade-off between them; a smaller KL means a code that says less about the image, hence a worse "
         "reconstruction",
    "C": "beta multiplies the KL penalty, so a larger beta pushes the KL down, not up; it is beta < 1 that "
         "lets the code carry more information",
    "D": "multiplying the WHOLE loss by a constant leaves its minimum in place, but beta multiplies only one "
         "of the two terms, which moves the balance between them",
}


def check_prediction_8_4(answer) -> None:
    """Grade prediction 8.4: what beta = 4 does to the KL and the reconstruction compared with beta = 1 (lesson 08)."""
    check_choice("prediction_8_4", answer, "A", WHY_8_4)


# ---------------------------------------------------------------- 8.5 predict: IWAE with the exact posterior

WHY_8_5 = {
    "A": "the bound rises with k when q differs from the true posterior, as in the lesson; here q IS the "
         "posterior, so every weight p(x | z) p(z) / q(z | x) equals p(x), whatever z was drawn",
    "B": "with q the exact posterior every importance weight equals p(x) exactly, so their average is p(x) "
         "for any k: the bound is tight already at k = 1, and more samples have nothing to add",
    "C": "the importance-weighted bound never falls as k grows (Burda et al., 2016): averaging more weights "
         "before the log can only help on average",
    "D": "on average the estimate is a lower bound on log p(x) for every k (Jensen's inequality, the log is "
         "concave): it can approach log p(x) but not exceed it on average",
}


def check_prediction_8_5(answer) -> None:
    """Grade prediction 8.5: how the IWAE bound moves with k when q is the exact posterior (lesson 08)."""
    check_choice("prediction_8_5", answer, "B", WHY_8_5)


def iwae_toy(x: float = 2.0, noise_sd: float = 0.5, ks=(1, 10, 100, 1000), repeats: int = 500,
             q: str = "posterior") -> dict:
    """Return the IWAE bound L_k (averaged over repeats) and log p(x) for a 1-D linear-Gaussian toy (lesson 08).

    p(z) = N(0, 1), p(x | z) = N(z, noise_sd²), observed x. q = "posterior" uses the exact posterior
    N(x / (1 + s²), s² / (1 + s²)); q = "prior" uses p(z) itself. Returns {"log_px": ..., k: L_k, ...}.
    """
    if q not in ("posterior", "prior"):
        raise ValueError(f"q must be 'posterior' or 'prior', got {q!r}")
    s2 = noise_sd**2
    mean_q, sd_q = (x / (1 + s2), math.sqrt(s2 / (1 + s2))) if q == "posterior" else (0.0, 1.0)
    prior, lik_var, qd = Normal(0.0, 1.0), s2, Normal(mean_q, sd_q)
    out = {"log_px": Normal(0.0, math.sqrt(1 + lik_var)).log_prob(torch.tensor(x)).item()}
    g = torch.Generator().manual_seed(0)
    for k in ks:
        z = mean_q + sd_q * torch.randn(repeats, k, generator=g, dtype=torch.float64)
        log_w = (Normal(z, math.sqrt(lik_var)).log_prob(torch.tensor(x, dtype=torch.float64))
                 + prior.log_prob(z) - qd.log_prob(z))
        out[k] = (torch.logsumexp(log_w, dim=1) - math.log(k)).mean().item()
    return out


# ---------------------------------------------------------------- 8.6 experiment: hit a KL rate with beta

RATE_TARGET, RATE_TOLERANCE = 3.0, 0.10


def check_beta_rate(beta, target: float = RATE_TARGET, tolerance: float = RATE_TOLERANCE) -> None:
    """Check experiment 8.6: the small VAE trained with this beta has a validation KL within 10 % of the target (lesson 08)."""
    name = "beta_8_6"
    require_answer(name, beta, "beta_8_6 to the beta you chose")
    if isinstance(beta, torch.Tensor) and beta.numel() == 1:
        beta = beta.item()
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not math.isfinite(beta):
        fail(name, f"expected one number for beta, got {beta!r}")
    if beta < 0:
        fail(name, f"beta = {beta} is negative: the loss would reward a large KL; beta weighs a penalty, beta >= 0")
    result = vae_rate(beta)
    kl, low, high = result["kl"], target * (1 - tolerance), target * (1 + tolerance)
    measured = (f"beta = {beta:g} gives a validation KL of {kl:.2f} nats per image (reconstruction "
                f"{result['recon']:.1f} nats), measured on {RATE_N_VAL:,} held-out validation images")
    if kl > high:
        fail(name, f"{measured}: {kl - target:.2f} nats above the target {target:g} ± {tolerance:.0%} "
                   f"({low:.2f} to {high:.2f}). A larger beta makes information in the code dearer and lowers the KL")
    if kl < low:
        fail(name, f"{measured}: {target - kl:.2f} nats below the target {target:g} ± {tolerance:.0%} "
                   f"({low:.2f} to {high:.2f}). A smaller beta lets the code carry more information")
    passed(name, f"{measured}, within {tolerance:.0%} of the target {target:g} nats")
