"""Regularisation penalties on the code: sparsity (lesson 03) and contraction (lesson 05).

Every penalty returns one scalar to add to a reconstruction loss that is summed over
pixels and averaged over the batch, so each is itself averaged over the batch (the KL
sparsity penalty compares batch averages, which is its own kind of average). Lessons 03
and 05 derive and write them out; this module is the copy that later lessons, the
Keras companions' parity tests and the exercise checks share.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

_EPS = 1e-6  # keeps log(rho_hat) finite when a unit is exactly 0 or 1 on the whole batch


def _activations(h, name: str) -> torch.Tensor:
    """Return h as a (B, K) floating tensor, or raise a ValueError that says what came instead."""
    if not isinstance(h, torch.Tensor) or not h.is_floating_point():
        got = f"a tensor of {h.dtype}" if isinstance(h, torch.Tensor) else type(h).__name__
        raise TypeError(f"{name} expects the hidden activations as a floating torch.Tensor (B, K); got {got}")
    if h.dim() != 2:
        raise ValueError(f"{name} expects activations of shape (B, K), one row per example; got "
                         f"{tuple(h.shape)}. Fix: flatten the code first, h.flatten(1)")
    return h


def _probabilities(h, name: str) -> torch.Tensor:
    """Return h checked to lie in [0, 1], as sigmoid activations do."""
    h = _activations(h, name)
    lo, hi = float(h.detach().min()), float(h.detach().max())
    if lo < 0 or hi > 1:
        raise ValueError(f"{name} needs activations in [0, 1] (sigmoid units), because it reads each "
                         f"unit's batch mean as a firing probability; got values in [{lo:.3g}, {hi:.3g}]. "
                         "Fix: end the encoder with nn.Sigmoid(), or use l1_activity for other units")
    return h


def kl_sparsity(h: torch.Tensor, rho: float = 0.05, beta: float = 3.0) -> torch.Tensor:
    """Return beta * sum_j KL(rho || rho_hat_j), with rho_hat_j the batch mean of unit j (lesson 03).

    h is (B, K) sigmoid activations. KL(rho || q) = rho log(rho / q) + (1 - rho) log((1 - rho) / (1 - q))
    is the divergence between Bernoulli variables of means rho and q; it is summed over the K
    units (not averaged), as in Ng's CS294A notes (rho = 0.05, beta = 3). rho_hat is clamped
    to [1e-6, 1 - 1e-6] so that a unit that is off on the whole batch gives a large, finite penalty.
    """
    h = _probabilities(h, "kl_sparsity")
    if not 0 < rho < 1:
        raise ValueError(f"kl_sparsity needs a target rate 0 < rho < 1, got rho={rho}")
    rho_hat = h.mean(dim=0).clamp(_EPS, 1 - _EPS)  # (K,): average over the batch, one per unit
    kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
    return beta * kl.sum()


def l1_activity(h: torch.Tensor, lam: float) -> torch.Tensor:
    """Return lam * mean over the batch of sum_j |h_j|: the L1 penalty on activations (lesson 03)."""
    h = _activations(h, "l1_activity")
    return lam * h.abs().sum(dim=1).mean()


def contractive_sigmoid(h: torch.Tensor, weight: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
    """Return lam * mean_b ||J_f(x_b)||_F^2 for a one-layer sigmoid encoder h = sigmoid(x W^T + b) (lesson 05).

    dh_j / dx_i = h_j (1 - h_j) W_ji, so ||J||_F^2 = sum_j (h_j (1 - h_j))^2 sum_i W_ji^2:
    no Jacobian is formed. weight is the encoder's nn.Linear weight, shape (K, D).
    """
    h = _probabilities(h, "contractive_sigmoid")
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2 or weight.shape[0] != h.shape[1]:
        got = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ValueError(f"contractive_sigmoid expects the encoder's weight of shape (K, D) = "
                         f"({h.shape[1]}, D) for activations {tuple(h.shape)}; got {got}. "
                         "Fix: pass encoder_linear.weight (nn.Linear stores it as (out, in))")
    row_norms = (weight**2).sum(dim=1)  # (K,): sum_i W_ji^2
    per_example = ((h * (1 - h)) ** 2 * row_norms).sum(dim=1)  # (B,)
    return lam * per_example.mean()


def jacobian_frobenius_sq(encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Return (B,) values ||J_f(x_b)||_F^2 of any encoder, by autograd (lesson 05).

    The Jacobian of each example is formed with torch.func.jacrev under vmap (one
    (code size) x (input size) matrix per example, so it costs about code-size backward
    passes); the result is differentiable with respect to the encoder's parameters, so
    `lam * jacobian_frobenius_sq(encoder, x).mean()` is a contractive penalty for any encoder.
    """
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        raise ValueError("jacobian_frobenius_sq expects a batch x of shape (B, ...), e.g. (B, 784) or "
                         f"(B, 1, 28, 28); got {tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    params = dict(encoder.named_parameters())
    buffers = dict(encoder.named_buffers())

    def code(xi: torch.Tensor) -> torch.Tensor:
        out = functional_call(encoder, (params, buffers), (xi.unsqueeze(0),))
        return out.flatten()

    jac = vmap(jacrev(code))(x)  # (B, K, *input shape)
    return (jac**2).flatten(1).sum(dim=1)
