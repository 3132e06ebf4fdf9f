"""Checks for exercises 05 (contractive autoencoders): references, and the mistakes they name."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import jacrev, vmap

from .core import call, close, diagnose, expect_tensor, fail, passed, seeded

__all__ = ["check_contractive_penalty", "check_sensitivity"]  # what aecourse.checks exports from here

# ---------------------------------------------------------------- 5.1 the closed-form penalty


def _sigmoid_layer(seed: int, batch: int, k: int, d: int) -> tuple:
    """Return x (B, D) in [0, 1], W (K, D), b (K,) of a sigmoid layer whose units are not saturated."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, d, generator=g)
    w = torch.randn(k, d, generator=g) * (2 / d) ** 0.5  # pre-activations of order 1
    b = torch.randn(k, generator=g) * 0.5 - w.sum(dim=1) / 2  # centred on x = 0.5
    return x, w, b


def _autograd_penalty(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, lam: float) -> torch.Tensor:
    """Return lam * mean_b ||J||_F^2 of x -> sigmoid(W x + b), each Jacobian formed by torch.func.jacrev."""
    x, w, b = x.double(), w.detach().double(), b.double()
    jac = vmap(jacrev(lambda xi: torch.sigmoid(w @ xi + b)))(x)  # (B, K, D)
    return lam * (jac**2).sum(dim=(1, 2)).mean()


def _penalty_mistakes(h: torch.Tensor, w: torch.Tensor, lam: float) -> list:
    """Return (message, wrong answer) for the mistakes of exercise 5.1, given h (B, K) and W (K, D)."""
    dh, rows = h * (1 - h), (w**2).sum(dim=1)  # (B, K), (K,)
    per = (dh**2) @ rows  # (B,): the right per-example values
    square = "∂h_j/∂x_i = h_j(1 − h_j)·W_ji and the Frobenius norm squares every entry, so"
    return [
        (f"h_j(1 − h_j) is not squared: {square} the factor of unit j is (h_j(1 − h_j))²",
         lambda: lam * (dh @ rows).mean()),
        (f"the weights are not squared: {square} unit j's factor is its row norm Σ_i W_ji², "
         "(W ** 2).sum(dim=1)", lambda: lam * (dh**2 @ w.sum(dim=1)).mean()),
        (f"used |W_ji| instead of W_ji²: {square} unit j's factor is Σ_i W_ji², (W ** 2).sum(dim=1)",
         lambda: lam * (dh**2 @ w.abs().sum(dim=1)).mean()),
        (f"nothing is squared: {square} the penalty is Σ_j (h_j(1 − h_j))² Σ_i W_ji²",
         lambda: lam * (dh @ w.abs().sum(dim=1)).mean()),
        (f"nothing is squared: {square} the penalty is Σ_j (h_j(1 − h_j))² Σ_i W_ji²",
         lambda: lam * (dh @ w.sum(dim=1)).mean()),
        ("took a square root: the penalty is the squared Frobenius norm ‖J‖²_F, not ‖J‖_F",
         lambda: lam * per.sqrt().mean()),
        ("used h_j as the sigmoid's derivative; σ'(a) = σ(a)(1 − σ(a)), so ∂h_j/∂a_j = h_j(1 − h_j)",
         lambda: lam * ((h**2) @ rows).mean()),
        ("used 1 − h_j², the derivative of tanh; for the sigmoid ∂h_j/∂a_j = h_j(1 − h_j)",
         lambda: lam * (((1 - h**2) ** 2) @ rows).mean()),
        ("applied the sigmoid to h again: h is already σ(a), so the derivative is h(1 − h), "
         "not σ(h)(1 − σ(h))", lambda: lam * ((torch.sigmoid(h) * (1 - torch.sigmoid(h))) ** 2 @ rows).mean()),
        ("summed over the batch: average over it (.mean()), like the reconstruction loss, so that "
         "the penalty does not grow with the batch size", lambda: lam * per.sum()),
        ("averaged over the hidden units as well: sum over the units (dim=1), then average over the batch",
         lambda: lam * (dh**2 * rows).mean()),
        ("summed W² over the hidden units (dim=0) instead of over the inputs: nn.Linear stores W as "
         "(K, D) = (out, in), so unit j's Σ_i W_ji² is (W ** 2).sum(dim=1)",
         lambda: lam * (dh**2 @ (w**2).sum(dim=0)).mean()),
        ("summed W² over the whole matrix: each unit j has its own row norm Σ_i W_ji², a (K,) vector "
         "(W ** 2).sum(dim=1)", lambda: lam * (dh**2).sum(dim=1).mean() * (w**2).sum()),
        ("left out lam: multiply the batch average by the penalty weight λ", lambda: per.mean()),
        ("multiplied by lam twice", lambda: lam**2 * per.mean()),
    ]


def _penalty_case(name: str, fn, where: str, x, w0, b, lam: float) -> None:
    batch, k = len(x), len(w0)
    w = w0.clone().requires_grad_()
    h = torch.sigmoid(x @ w.T + b)  # (B, K), in the graph of W
    raw = call(name, fn, h=h, weight=w, lam=lam)
    if isinstance(raw, (float, int)):
        fail(name, "returned a Python number; return the tensor (no .item()) so that the penalty can "
                   "be added to the loss and backpropagated")
    out = expect_tensor(name, raw, (), {
        (batch,): "returned one value per example, shape (B,); average them over the batch (.mean()) "
                  "and multiply by lam",
        (batch, k): "returned one value per example and hidden unit, shape (B, K); sum over the units "
                    "(dim=1), then average over the batch",
        (k,): "returned one value per hidden unit, shape (K,); sum over the units for each example, then "
              "average over the batch",
        (k, w0.shape[1]): "returned a (K, D) matrix; the penalty is one number: "
                          "λ · mean over the batch of Σ_j (h_j(1 − h_j))² Σ_i W_ji²"})
    ref = _autograd_penalty(x, w0, b, lam)
    hd = h.detach()
    diagnose(name, out, ref, _penalty_mistakes(hd, w0, lam), where, rtol=1e-4, atol=1e-6)
    if not raw.requires_grad:
        fail(name, "the penalty is cut off from autograd (.detach(), .item(), torch.no_grad() or "
                   "torch.tensor(...)): compute it from h and weight with torch operations so that "
                   "loss.backward() reaches the encoder")
    try:
        (grad,) = torch.autograd.grad(raw, w, retain_graph=True, allow_unused=True)
    except RuntimeError as err:
        fail(name, f"its value is right, but backpropagating through it failed ({err}); avoid in-place "
                   "operations (`+=`, methods ending in `_`) on tensors that autograd needs", err)
    ref_grad = torch.autograd.grad(lam * ((h * (1 - h)) ** 2 @ (w**2).sum(dim=1)).mean(), w)[0]
    h_only = torch.autograd.grad(lam * ((hd * (1 - hd)) ** 2 @ (w**2).sum(dim=1)).mean(), w)[0]
    if grad is None or close(grad, torch.zeros_like(grad), 0, 1e-12):
        fail(name, "the penalty does not depend on the weights through autograd: use the `weight` and `h` "
                   "you are given (no .detach(), no copies as plain numbers)")
    if close(grad, h_only, 1e-4, 1e-7) and not close(grad, ref_grad, 1e-4, 1e-7):
        fail(name, "h was detached: its value is right, but the penalty must also push on W through "
                   "h = σ(Wx + b); use h itself, not h.detach() or h.data")
    if not close(grad, ref_grad, 1e-3, 1e-7):
        fail(name, f"the value is right, but its gradient with respect to W is not {where}; compute it "
                   "from h and weight with differentiable torch operations only")


def check_contractive_penalty(fn, seed: int = 0, batch: int = 4, k: int = 16, d: int = 784,
                              lam: float = 0.3) -> None:
    """Check contractive_penalty(h, weight, lam) against ‖J‖²_F from torch.func.jacrev (lesson 05)."""
    name = getattr(fn, "__name__", "contractive_penalty")
    cases = [(f"with a square W (K = D = 10), a batch of 3, seed {seed}, lam = 0.5",
              *_sigmoid_layer(seed, 3, 10, 10), 0.5),
             (f"on a random sigmoid layer (batch {batch}, K = {k}, D = {d}, seed {seed}, lam = {lam})",
              *_sigmoid_layer(seed + 1, batch, k, d), lam)]
    for case in cases:
        _penalty_case(name, fn, *case)
    passed(name, f"equals λ · mean over the batch of ‖J_f(x)‖²_F from torch.func.jacrev, gradient "
                 f"included (batch {batch}, K = {k}, D = {d}, seed {seed})")


# ---------------------------------------------------------------- 5.2 how much the codes move


def _sensitivity_encoder(seed: int, d: int, k: int) -> nn.Module:
    return seeded(seed, lambda: nn.Sequential(nn.Linear(d, k), nn.Sigmoid()))


@torch.no_grad()
def _sensitivity(encoder, x: torch.Tensor, std: float, noise=torch.randn_like, per=True, power=1,
                 clamp=False, denominator="noise") -> torch.Tensor:
    """Reference sensitivity, and its known mistakes through the flags (draws its noise first)."""
    eps = noise(x) * std  # (B, D)
    moved = (x + eps).clamp(0, 1) if clamp else x + eps
    delta = encoder(moved) - encoder(x)  # (B, K)
    if not per:  # one norm over the whole batch
        return delta.norm() / eps.norm()
    top = delta.norm(dim=1) ** power
    bottom = {"noise": eps.norm(dim=1) ** power, "std": torch.full_like(top, std)}[denominator]
    return (top / bottom).mean()


def _sensitivity_case(name: str, fn, where: str, seed: int, encoder, x, std: float) -> None:
    raw = seeded(seed, lambda: call(name, fn, encoder=encoder, x=x, std=std))
    if isinstance(raw, (float, int)):
        raw = torch.tensor(float(raw))
    out = expect_tensor(name, raw, (), {
        (len(x),): "returned one ratio per example, shape (B,); average them over the batch (.mean())"})

    def drawn(**flags):
        return seeded(seed, lambda: _sensitivity(encoder, x, std, **flags))

    others = torch.stack([seeded(s, lambda: _sensitivity(encoder, x, std)) for s in range(1000, 1030)])

    def ratio_of_averages():
        eps = torch.randn_like(x) * std
        return (encoder(x + eps) - encoder(x)).norm(dim=1).mean() / eps.norm(dim=1).mean()

    def noise_twice():
        eps = torch.randn_like(x) * std
        return ((encoder(x + eps) - encoder(x)).norm(dim=1) / (torch.randn_like(x) * std).norm(dim=1)).mean()

    mistakes = [
        ("computed a ratio of averages (mean ‖Δf‖ / mean ‖ε‖); compute the ratio for each example, "
         "‖f(x_b + ε_b) − f(x_b)‖ / ‖ε_b‖, then average the ratios",
         lambda: seeded(seed, ratio_of_averages)),
        ("used squared norms; the ratio uses the norms themselves (.norm(dim=1), no square)",
         lambda: drawn(power=2)),
        ("took one norm over the whole batch; compute one norm per example with .norm(dim=1), "
         "divide, then average", lambda: drawn(per=False)),
        ("summed the ratios over the batch; average them (.mean())",
         lambda: drawn() * len(x)),
        ("divided by std; divide by the size of each example's own noise, ‖ε_b‖ = eps.norm(dim=1) "
         f"(about std·√D for D = {x.shape[1]} inputs)", lambda: drawn(denominator="std")),
        ("the noise has standard deviation 1: multiply torch.randn_like(x) by std",
         lambda: drawn(noise=lambda t: torch.randn_like(t) / std)),
        ("clamped x + ε to [0, 1]: here we probe the encoder as a function, so move x by the raw ε "
         "(no clamping) and divide by ‖ε‖", lambda: drawn(clamp=True)),
        ("drew uniform noise (torch.rand_like); draw Gaussian noise, torch.randn_like(x) * std",
         lambda: drawn(noise=torch.rand_like)),
        ("drew the noise twice, one for x + ε and one for ‖ε‖; draw ε once and use it in both places",
         lambda: seeded(seed, noise_twice)),
        ("the value is plausible but not for the noise the check drew: draw ε once, first, with "
         "torch.randn_like(x) * std (nothing random before it), so that the check can repeat it",
         lambda: out if others.min() <= out <= others.max() else None),
    ]
    diagnose(name, out, drawn(), mistakes, where, rtol=1e-4, atol=1e-6)


def check_sensitivity(fn, seed: int = 0, batch: int = 8, std: float = 0.1, d: int = 784,
                      k: int = 32) -> None:
    """Check sensitivity(encoder, x, std): mean over examples of ‖f(x + ε) − f(x)‖ / ‖ε‖ (lesson 05)."""
    name = getattr(fn, "__name__", "sensitivity")
    if not std > 0:
        raise ValueError(f"check_sensitivity needs a noise size std > 0, got {std}")
    encoder = _sensitivity_encoder(seed, d, k)
    x = torch.rand(batch, d, generator=torch.Generator().manual_seed(seed))
    where = f"on a random sigmoid encoder {d} → {k}, a batch of {batch}, std = {std}, torch.manual_seed({seed})"
    _sensitivity_case(name, fn, where, seed, encoder, x, std)
    passed(name, f"the average of ‖f(x + ε) − f(x)‖ / ‖ε‖ over the batch, with ε = "
                 f"torch.randn_like(x) * std (batch {batch}, std = {std}, seed {seed})")
