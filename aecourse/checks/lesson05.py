"""Checks for exercises 05 (contractive autoencoders): references, and the mistakes they name."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import jacrev, vmap

from .. import config
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
    seeded,
    validation_digits,
)

__all__ = ["check_contractive_penalty", "check_two_layer_jacobian", "check_prediction_5_3",
           "check_cae_lambda"]  # what aecourse.checks exports from here

# ---------------------------------------------------------------- 5.1 the closed-form penalty


def _check_device(name: str, fn, **args) -> None:
    """core.check_device, except that a data-dependent test on the meta device (`.item()`, `if (h < 0).any()`)
    is not taken for a tensor made on the CPU: such an answer is right on every device."""
    try:
        check_device(name, fn, **args)
    except CheckFailed as err:
        cause = str(err.__cause__ or "")
        if "item() cannot be called on meta" in cause or "data-dependent" in cause.lower():
            return
        raise



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
                          "λ · mean over the batch of Σ_j (h_j(1 − h_j))² Σ_i W_ji²"}, dtype=h.dtype)
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
    _check_device(name, fn, h=h, weight=w, lam=lam)


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


# ---------------------------------------------------------------- 5.2 the Jacobian of a two-layer encoder


def _two_layer(seed: int, batch: int, d: int, k1: int, k2: int) -> tuple:
    """Return x (B, D) in [0, 1] and W1 (K1, D), b1, W2 (K2, K1), b2 with pre-activations of order 1."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, d, generator=g)
    w1 = torch.randn(k1, d, generator=g) * (3 / d) ** 0.5
    b1 = torch.randn(k1, generator=g) * 0.5 - w1.sum(dim=1) / 2 + 0.3  # sigmoid units off-centre, not saturated
    w2 = torch.randn(k2, k1, generator=g) * (4 / k1) ** 0.5
    b2 = torch.randn(k2, generator=g) * 0.3 - w2.sum(dim=1) / 2 + 0.2  # tanh units of order 1, off zero
    return x, w1, b1, w2, b2


def _two_layer_reference(x, w1, b1, w2, b2) -> torch.Tensor:
    """Return the (B, K2, D) Jacobians of x -> tanh(W2 σ(W1 x + b1) + b2) by torch.func.jacrev, in float64."""
    x, w1, b1, w2, b2 = (t.detach().double() for t in (x, w1, b1, w2, b2))
    return vmap(jacrev(lambda xi: torch.tanh(w2 @ torch.sigmoid(w1 @ xi + b1) + b2)))(x)


def _two_layer_mistakes(x, w1, b1, w2, b2) -> list:
    """Return (message, wrong Jacobian) for the mistakes of exercise 5.2, all (B, K2, D)."""
    h1 = torch.sigmoid(x @ w1.T + b1)  # (B, K1)
    h2 = torch.tanh(h1 @ w2.T + b2)  # (B, K2)
    s1, t2 = h1 * (1 - h1), 1 - h2**2  # the right slopes

    def jac(outer, inner, a=w2, c=w1):  # diag(outer) W2 diag(inner) W1, per example
        return torch.einsum("bk,kj,bj,jd->bkd", outer, a, inner, c)

    ones1, ones2 = torch.ones_like(s1), torch.ones_like(t2)
    h1_nob = torch.sigmoid(x @ w1.T)
    h2_nob = torch.tanh(h1_nob @ w2.T)
    chain = "By the chain rule J = diag(1 − h2²) · W2 · diag(h1 ⊙ (1 − h1)) · W1"
    return [
        (f"left out the tanh layer's slope: {chain}, with the slope 1 − h2² of the second layer in front",
         lambda: jac(ones2, s1)),
        (f"left out the sigmoid layer's slope: {chain}, with the slope h1(1 − h1) of the first layer between "
         "W2 and W1", lambda: jac(t2, ones1)),
        (f"left out both activations' slopes: {chain}; W2 · W1 is the Jacobian of the network without its "
         "nonlinearities", lambda: jac(ones2, ones1)),
        ("used the sigmoid's slope h2(1 − h2) for the tanh layer: tanh'(a) = 1 − tanh(a)², so its factor "
         "is 1 − h2²", lambda: jac(h2 * (1 - h2), s1)),
        ("used tanh's slope 1 − h1² for the sigmoid layer: σ'(a) = σ(a)(1 − σ(a)), so its factor is "
         "h1(1 − h1)", lambda: jac(t2, 1 - h1**2)),
        ("swapped the two slopes: the first layer is the sigmoid (factor h1(1 − h1)), the second the tanh "
         "(factor 1 − h2²)", lambda: jac(h2 * (1 - h2), 1 - h1**2)),
        ("used the activations h1, h2 as the slopes: the factors are the derivatives h1(1 − h1) and 1 − h2²",
         lambda: jac(h2, h1)),
        ("applied the activation to h again: h1 = σ(a1) already, so its slope is h1(1 − h1), not "
         "σ(h1)(1 − σ(h1)); likewise 1 − h2², not 1 − tanh(h2)²",
         lambda: jac(1 - torch.tanh(h2) ** 2, torch.sigmoid(h1) * (1 - torch.sigmoid(h1)))),
        ("squared the slopes: the Jacobian has the factors h1(1 − h1) and 1 − h2² themselves; squares "
         "appear only in the penalty ‖J‖²_F", lambda: jac(t2**2, s1**2)),
        ("left out the biases b1 and b2: the slopes are evaluated at the pre-activations W1 x + b1 and "
         "W2 h1 + b2", lambda: jac(1 - h2_nob**2, h1_nob * (1 - h1_nob))),
    ]


def _two_layer_case(name: str, fn, where: str, x, w1, b1, w2, b2) -> None:
    batch, d, k1, k2 = len(x), x.shape[1], len(w1), len(w2)
    ws = [t.clone().requires_grad_() for t in (w1, b1, w2, b2)]
    raw = call(name, fn, x=x, w1=ws[0], b1=ws[1], w2=ws[2], b2=ws[3])
    out = expect_tensor(name, raw, (batch, k2, d), {
        (batch, d, k2): f"returned shape (B, D, K2) = {(batch, d, k2)}, the transpose: J has one row per "
                        "code unit and one column per input, (B, K2, D)",
        (k2, d): "returned one (K2, D) matrix; return one Jacobian per example, shape (B, K2, D)",
        (batch, k1, d): "returned the Jacobian of the first layer only, shape (B, K1, D); multiply on by "
                        "diag(1 − h2²) W2",
        (batch,): "returned ‖J‖²_F per example, shape (B,); return the Jacobians themselves, (B, K2, D)",
        (): "returned a single number; return the Jacobians themselves, (B, K2, D)"}, dtype=x.dtype)
    ref = _two_layer_reference(x, w1, b1, w2, b2)
    diagnose(name, out, ref, _two_layer_mistakes(x, w1, b1, w2, b2), where, rtol=1e-4, atol=1e-6)
    if not raw.requires_grad:
        fail(name, "the Jacobian is cut off from autograd (.detach(), torch.no_grad() or a NumPy "
                   "round trip): as a penalty it is trained, so compute it from the weights with torch "
                   "operations")
    total = (raw**2).sum()
    got = torch.autograd.grad(total, [ws[0], ws[2]], allow_unused=True)
    w1r, w2r = w1.clone().requires_grad_(), w2.clone().requires_grad_()
    h1 = torch.sigmoid(x @ w1r.T + b1)
    h2 = torch.tanh(h1 @ w2r.T + b2)
    jr = torch.einsum("bk,kj,bj,jd->bkd", 1 - h2**2, w2r, h1 * (1 - h1), w1r)
    want = torch.autograd.grad((jr**2).sum(), [w1r, w2r])
    for g, r, which in zip(got, want, ("W1", "W2"), strict=True):
        if g is None or not close(g, r, 1e-3, 1e-6):
            fail(name, f"the values are right, but the gradient of ‖J‖²_F with respect to {which} is not "
                       f"{where}: do not detach h1 or h2 (.detach(), .data); compute the slopes from the "
                       "weights you are given")
    _check_device(name, fn, x=x, w1=w1, b1=b1, w2=w2, b2=b2)


def check_two_layer_jacobian(fn, seed: int = 0, batch: int = 3, d: int = 7, k1: int = 5, k2: int = 4) -> None:
    """Check two_layer_jacobian(x, w1, b1, w2, b2) against torch.func.jacrev (lesson 05)."""
    name = getattr(fn, "__name__", "two_layer_jacobian")
    if len({d, k1, k2}) < 3 or min(batch, d, k1, k2) < 2:
        raise ValueError("check_two_layer_jacobian needs three different sizes d, k1, k2 and batch >= 2, "
                         "so that no mistake can pass for the right answer")
    cases = [(f"for x = {{3 images of 7 pixels}}, K1 = 5 sigmoid units, K2 = 4 tanh units (seed {seed})",
              *_two_layer(seed, 3, 7, 5, 4)),
             (f"(batch {batch}, D = {d}, K1 = {k1}, K2 = {k2}, seed {seed + 1})",
              *_two_layer(seed + 1, batch, d, k1, k2))]
    for where, *case in cases:
        _two_layer_case(name, fn, where, *case)
    passed(name, f"equals the Jacobian of x ↦ tanh(W2 σ(W1 x + b1) + b2) from torch.func.jacrev, gradient "
                 f"with respect to the weights included (batch {batch}, D = {d}, K1 = {k1}, K2 = {k2})")


# ---------------------------------------------------------------- 5.3 predict: scaling the weights

SCALE = 100  # W and b are multiplied by this factor in exercise 5.3


def scaled_penalties(scales=(1, 10, SCALE, 1000), n: int = 1000) -> dict:
    """Return {c: (mean ‖J‖²_F, share of unsaturated units)} for an untrained 784-256 sigmoid encoder, W and b times c.

    The encoder is nn.Linear(784, 256) as PyTorch initialises it after torch.manual_seed(0); the inputs
    are the first n MNIST test digits. A unit counts as unsaturated where h(1 − h) > 0.01 (0.01 < h < 0.99).
    """
    from ..data import load_mnist

    x = load_mnist("test", flatten=True)[0][:n]
    layer = seeded(0, lambda: nn.Linear(784, 256))
    out = {}
    with torch.no_grad():
        for c in scales:
            w, b = layer.weight * c, layer.bias * c
            slope = torch.sigmoid(x @ w.T + b)
            slope = slope * (1 - slope)  # (n, 256)
            out[c] = ((slope**2 @ (w**2).sum(dim=1)).mean().item(), (slope > 0.01).float().mean().item())
    return out


_SCALE_WHY = {
    "A": "Most units do saturate, but the few whose pre-activation stays near 0 get a slope c times "
         "steeper, which the penalty squares: c² times a share of units that shrinks only like 1/c.",
    "B": "Saturation and steeper slopes do not cancel: the share of unsaturated units shrinks like 1/c, "
         "but each of them contributes c² times more, so the penalty grows roughly like c.",
    "C": "The share of unsaturated units falls roughly like 1/c while each one's squared slope · row norm "
         "grows like c², so the penalty grows roughly like c, a few hundred times at c = 100.",
    "D": "c² would hold only if the slopes h(1 − h) stayed the same; at c = 100 most units saturate, so "
         "only a share of about 1/c keeps contributing and the growth is closer to c than to c².",
}


def check_prediction_5_3(answer) -> None:
    """Grade the prediction of exercise 5.3: the penalty when W and b are scaled by 100 (lesson 05)."""
    name = "prediction_5_3"
    check_choice(name, answer, "C", _SCALE_WHY)
    runs = scaled_penalties((1, SCALE))
    (p1, u1), (pc, uc) = runs[1], runs[SCALE]
    print(f"measured on 1,000 test digits: mean ‖J‖²_F {p1:.3g} at c = 1, {pc:.4g} at c = {SCALE} "
          f"({pc / p1:.0f}x); unsaturated units {u1:.0%} → {uc:.1%}")


# ---------------------------------------------------------------- 5.4 experiment: choose λ


def cae_budget() -> dict:
    """Return the budget and targets of exercise 5.4 for the current mode (AECOURSE_MODE)."""
    return {"mode": config.get_mode(),
            "n_train": config.pick(smoke=1_000, standard=6_000, full=6_000),
            "epochs": config.pick(smoke=1, standard=2, full=2),
            "n_val": config.pick(smoke=500, standard=2_000, full=2_000),
            "jacobian_target": config.pick(smoke=JAC_TARGET_SMOKE, standard=JAC_TARGET, full=JAC_TARGET),
            "error_bound": config.pick(smoke=ERR_BOUND_SMOKE, standard=ERR_BOUND, full=ERR_BOUND)}


JAC_TARGET, ERR_BOUND = 1.45, 47.5  # standard, on the validation digits: mean ‖J_f‖_F below, squared error per image below
JAC_TARGET_SMOKE, ERR_BOUND_SMOKE = 2.0, 82.0  # smoke: one epoch on 1,000 images, a loose check of the machinery
_CAE_RUNS: dict = {}


def train_cae(lam: float, n_train: int, epochs: int, n_val: int) -> dict:
    """Train exercise 5.4's 784-256-784 sigmoid CAE with penalty weight lam; score it on held-out digits.

    The first n_train MNIST training images, `epochs` epochs of Adam (lr 1e-3, batches of 128) after
    aecourse.set_seed(0); the scores are on n_val held-out validation images (core.validation_digits:
    training images it never trained on, the same for every learner): the squared error per
    image, the mean ‖J_f(x)‖_F, the mean row norm Σ_i W_ji² over the units, the mean slope h(1 − h)
    and the share of saturated unit activations (h(1 − h) < 0.01). The caller's random state is left alone.
    """
    key = (float(lam), n_train, epochs, n_val)
    if key not in _CAE_RUNS:
        from ..data import load_mnist
        from ..penalties import contractive_sigmoid
        from ..training import fit

        x_tr = load_mnist("train", flatten=True)[0][:n_train]
        x_val = validation_digits(n_val)

        def run():
            from ..config import set_seed

            set_seed(0)
            model = nn.Sequential()
            model.encoder = nn.Sequential(nn.Linear(784, 256), nn.Sigmoid())
            model.decoder = nn.Sequential(nn.Linear(256, 784), nn.Sigmoid())

            def loss_fn(m, x):
                h = m.encoder(x)
                return (((m.decoder(h) - x) ** 2).sum(dim=1).mean()
                        + contractive_sigmoid(h, m.encoder[0].weight, lam))

            fit(model, loss_fn, x_tr, epochs=epochs, batch_size=128, verbose=False, progress=False)
            with torch.no_grad():
                h = model.encoder(x_val)
                err = ((model.decoder(h) - x_val) ** 2).sum(dim=1).mean().item()
                slope = h * (1 - h)  # (n_val, 256)
                rows = (model.encoder[0].weight ** 2).sum(dim=1)  # (256,)
                jac = ((slope**2 @ rows).sqrt().mean().item())
            return {"error": err, "jacobian": jac, "row_norm": rows.mean().item(),
                    "slope": slope.mean().item(), "saturated": (slope < 0.01).float().mean().item()}

        with torch.random.fork_rng(devices=[]):
            import random

            import numpy as np

            state = (random.getstate(), np.random.get_state())
            try:
                _CAE_RUNS[key] = run()
            finally:
                random.setstate(state[0])
                np.random.set_state(state[1])
    return dict(_CAE_RUNS[key])


def check_cae_lambda(lam) -> None:
    """Train the CAE of exercise 5.4 with the learner's λ; grade the Jacobian target and error bound (lesson 05)."""
    name = "lam_5_4"
    require_answer(name, lam, "lam_5_4 to the penalty weight λ you chose")
    if isinstance(lam, torch.Tensor) and lam.numel() == 1:
        lam = lam.item()
    if isinstance(lam, bool) or not isinstance(lam, (int, float)):
        fail(name, f"expected a number (a Python float such as 0.25), got {type(lam).__name__} {lam!r}")
    lam = float(lam)
    if not lam >= 0 or lam != lam or lam == float("inf"):
        fail(name, f"λ must be a finite number ≥ 0, got {lam}")
    b = cae_budget()
    score = train_cae(lam, b["n_train"], b["epochs"], b["n_val"])
    jac, err = score["jacobian"], score["error"]
    target, bound = b["jacobian_target"], b["error_bound"]
    measured = (f"measured on {b['n_val']:,} held-out validation digits after {b['epochs']} epoch(s) on "
                f"{b['n_train']} images ({b['mode']} mode's targets): mean ‖J_f‖_F = {jac:.3f}, "
                f"squared error per image = {err:.2f}")
    if jac >= target and err >= bound:
        fail(name, f"λ = {lam:g} misses both: {measured}; targets ‖J_f‖_F < {target} and error < {bound}")
    if jac >= target:
        fail(name, f"λ = {lam:g} is too small: {measured}; the Jacobian norm is {jac - target:.3f} above "
                   f"its target {target}. Raise λ")
    if err >= bound:
        fail(name, f"λ = {lam:g} is too large: {measured}; the error is {err - bound:.2f} above its bound "
                   f"{bound}. Lower λ")
    passed(name, f"λ = {lam:g} meets both targets: {measured} (targets ‖J_f‖_F < {target}, error < {bound})")
