"""Checks for exercises 01 (linear autoencoders and PCA): references, and the mistakes they name."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from .core import Autoencoder, call, diagnose, expect_tensor, fail, passed, seeded

__all__ = ["check_pca_reconstruct", "check_linear_autoencoder", "check_training_step", "check_principal_angles"]  # what aecourse.checks exports from here


def _pca(x_train, x, k, centre=True, sub="mu", add="mu", pick=lambda vt, k: vt[:k]):
    """Reference PCA reconstruction (lesson 01); the flags select known mistakes."""
    a, b = x_train.double(), x.double()
    mu = a.mean(dim=0)
    vt = torch.linalg.svd(a - mu if centre else a, full_matrices=False)[2]
    v = pick(vt, k).T  # (D, k)
    means = {"mu": mu, "own": b.mean(dim=0), "none": torch.zeros_like(mu)}
    return (b - means[sub]) @ v @ v.T + means[add]


def _pca_cases(seed: int, n: int, d: int, k: int) -> list:
    g = torch.Generator().manual_seed(seed)
    scales, mean = torch.linspace(3.0, 0.3, d), 2 * torch.rand(d, generator=g)
    rotation = torch.linalg.qr(torch.randn(d, d, generator=g))[0]
    x_train = (torch.randn(n, d, generator=g) * scales) @ rotation.T + mean
    x = (torch.randn(10, d, generator=g) * scales) @ rotation.T + mean + 0.5  # its own mean differs
    fixed = torch.tensor([[0.0, 0.0], [2.0, 1.0], [4.0, 2.0], [6.0, 3.0]])  # on a line; x_hat = [[6, 3], [2, 1]]
    return [("on the fixed example x_train = [[0, 0], [2, 1], [4, 2], [6, 3]], x = [[4, 7], [3, -1]], "
             "k = 1", fixed, torch.tensor([[4.0, 7.0], [3.0, -1.0]]), 1),
            (f"on random data (seed {seed}: x_train {n}×{d}, x 10×{d}, k = {k})", x_train, x, k)]


def _pca_case(name: str, fn, where: str, x_train: torch.Tensor, x: torch.Tensor, kk: int) -> None:
    out = expect_tensor(name, call(name, fn, x_train=x_train, x=x, k=kk), tuple(x.shape), {
        (len(x), kk): f"returned the codes z, shape (M, k) = {(len(x), kk)}; decode them: mu + z @ V_k.T",
        tuple(x_train.shape): "returned as many rows as x_train: reconstruct x, not the training data"})
    mistakes = [
        ("forgot to centre: subtract the training mean mu = x_train.mean(dim=0) before the SVD and "
         "before projecting, then add it back", lambda: _pca(x_train, x, kk, False, "none", "none")),
        ("did not add the mean back after decoding: x_hat = mu + z @ V_k.T",
         lambda: _pca(x_train, x, kk, add="none")),
        ("did not subtract the mean from x before projecting: z = (x - mu) @ V_k",
         lambda: _pca(x_train, x, kk, sub="none")),
        ("centred x with its own mean; use the training mean mu = x_train.mean(dim=0) for both",
         lambda: _pca(x_train, x, kk, sub="own", add="own")),
        ("took columns of Vt (Vt[:, :k]); torch.linalg.svd returns V transposed, so the principal "
         "directions are its rows: V_k = Vt[:k].T",
         lambda: _pca(x_train, x, kk, pick=lambda vt, k: vt[:, :k].T)),
        ("used the k directions of smallest variance; the SVD sorts them largest first: Vt[:k]",
         lambda: _pca(x_train, x, kk, pick=lambda vt, k: vt[-k:])),
        ("used k - 1 components instead of k", lambda: _pca(x_train, x, kk - 1)),
        ("used k + 1 components instead of k", lambda: _pca(x_train, x, kk + 1)),
    ]
    diagnose(name, out, _pca(x_train, x, kk), mistakes, where, rtol=1e-3, atol=1e-3)


def check_pca_reconstruct(fn, seed: int = 0, n: int = 100, d: int = 30, k: int = 5) -> None:
    """Check pca_reconstruct(x_train, x, k) against an SVD of the centred data (lesson 01)."""
    name = getattr(fn, "__name__", "pca_reconstruct")
    for case in _pca_cases(seed, n, d, k):
        _pca_case(name, fn, *case)
    passed(name, f"matches PCA by SVD on a fixed example and on random data (seed {seed}, k = {k})")


def _linear_model(cls, name: str, seed: int, k: int):
    try:
        model = seeded(seed, lambda: cls(k))
    except Exception as err:
        fail(name, f"{name}({k}) raised {type(err).__name__}: {err}", err)
    enc, dec = getattr(model, "encoder", None), getattr(model, "decoder", None)
    if not (isinstance(enc, nn.Linear) and isinstance(dec, nn.Linear)
            and (enc.in_features, enc.out_features, dec.out_features) == (784, k, 784)):
        fail(name, "expected self.encoder = nn.Linear(784, k) and self.decoder = nn.Linear(k, 784), as given")
    return model, enc, dec


def check_linear_autoencoder(cls, seed: int = 0, k: int = 3, batch: int = 5) -> None:
    """Check LinearAutoencoder(k).forward: x_hat = decoder(encoder(x)), no activation (lesson 01)."""
    name = getattr(cls, "__name__", "LinearAutoencoder")
    model, enc, dec = _linear_model(cls, name, seed, k)
    x = torch.rand(batch, 784, generator=torch.Generator().manual_seed(seed))
    raw = call(f"{name}.forward", model, x=x)
    out = expect_tensor(name, raw, (batch, 784), {
        (batch, k): "returned the code z, shape (B, k); decode it: return self.decoder(z)"})
    we, wd, bd = enc.weight, dec.weight, dec.bias
    activation = "added an activation; a linear autoencoder has none: return self.decoder(self.encoder(x))"
    mistakes = [
        ("returned its input unchanged; encode x with self.encoder, then decode with self.decoder", lambda: x),
        ("left out both biases (x @ W.T alone); call self.encoder(x) and self.decoder(z), which add them",
         lambda: x @ we.T @ wd.T),
        ("left out the encoder's bias b_e; self.encoder(x) adds it", lambda: x @ we.T @ wd.T + bd),
        ("left out the decoder's bias b_d; self.decoder(z) adds it", lambda: enc(x) @ wd.T),
        (activation, lambda: torch.sigmoid(dec(enc(x)))), (activation, lambda: torch.relu(dec(enc(x)))),
        (activation, lambda: dec(torch.relu(enc(x)))), (activation, lambda: dec(torch.sigmoid(enc(x)))),
        ("decoded with the encoder's weights (W_e.T, tied weights); decode with self.decoder",
         lambda: enc(x) @ we + bd),
    ]
    with torch.no_grad():
        ref = dec(enc(x))
    diagnose(name, out, ref, mistakes, f"on a batch of shape ({batch}, 784) with k = {k}")
    if not raw.requires_grad:
        fail(name, "the output is cut off from autograd (torch.no_grad(), .detach() or .data), so training "
                   "could not compute gradients; return the decoder's output as it is")
    passed(name, f"forward returns decoder(encoder(x)) with its autograd graph (k = {k}, batch {batch})")


def _step(model, optimizer, x, reduce="image", zero=True, err="squared", after=False) -> float:
    """Reference training step (lesson 01); the flags select known mistakes."""
    e = (model(x) - x) ** 2 if err == "squared" else (model(x) - x).abs()
    loss = {"image": lambda: e.sum(dim=1).mean(), "pixel": e.mean, "all": e.sum}[reduce]()
    if zero:
        optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return ((model(x) - x) ** 2).sum(dim=1).mean().item() if after else loss.item()


def _params(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def _trace(step: Callable, model0: nn.Module, batches: list, lr: float) -> list:
    """Return [(loss, weights)] after each call of step on a fresh copy of model0 with SGD."""
    model = copy.deepcopy(model0)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    return [(step(model, optimizer, x.clone()), _params(model)) for x in batches]


def _same_trace(got: list, want: list, start: torch.Tensor) -> bool:
    for (loss, w), (ref_loss, ref_w) in zip(got, want, strict=True):
        moved, ref_moved = w - start, ref_w - start
        if abs(loss - ref_loss) > 1e-4 * abs(ref_loss) + 1e-6 or not torch.allclose(
                moved, ref_moved, rtol=1e-3, atol=1e-3 * float(ref_moved.abs().max()) + 1e-9):
            return False
    return True


def _step_calls(name: str, fn, model0: nn.Module, batches: list, lr: float) -> list:
    """Run the learner's step on each batch; return [(loss, weights)], failing on a wrong return or no update."""
    model, start = copy.deepcopy(model0), _params(model0)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    got = []
    for x in batches:
        loss = call(name, fn, model=model, optimizer=optimizer, x=x)
        if isinstance(loss, torch.Tensor):
            fail(name, "returned a tensor; return loss.item(), a Python float (a tensor keeps its graph alive)")
        if not isinstance(loss, (int, float)):
            fail(name, f"returned {type(loss).__name__}; end with `return loss.item()`")
        if not got and torch.equal(_params(model), start):
            grads = any(p.grad is not None and bool(p.grad.any()) for p in model.parameters())
            fail(name, "computed gradients but did not apply them: call optimizer.step() after loss.backward()"
                 if grads else "the weights did not change: call loss.backward(), then optimizer.step()")
        got.append((float(loss), _params(model)))
    return got


def check_training_step(fn, seed: int = 0, batch: int = 8, k: int = 4, lr: float = 1e-4) -> None:
    """Check training_step(model, optimizer, x) on two batches against one SGD step each (lesson 01)."""
    name = getattr(fn, "__name__", "training_step")
    model0 = seeded(seed, lambda: Autoencoder(nn.Linear(784, k), nn.Linear(k, 784)))
    batches = [torch.rand(batch, 784, generator=torch.Generator().manual_seed(seed + i)) for i in (0, 1)]
    got = _step_calls(name, fn, model0, batches, lr)
    variants = [
        ("", {}),
        ("averaged over pixels too (.mean() or F.mse_loss): sum over pixels and average over the batch, "
         "((x_hat - x) ** 2).sum(dim=1).mean()", {"reduce": "pixel"}),
        ("summed over the batch too: sum over pixels and average over the batch, "
         "((x_hat - x) ** 2).sum(dim=1).mean()", {"reduce": "all"}),
        ("used the absolute error; the loss is the squared error (x_hat - x) ** 2", {"err": "abs"}),
        ("did not clear the old gradients, so the second step also applied the first batch's: call "
         "optimizer.zero_grad() before loss.backward()", {"zero": False}),
        ("returned the loss after the update; return the loss computed before optimizer.step()",
         {"after": True}),
    ]
    start = _params(model0)
    for message, flags in variants:
        if _same_trace(got, _trace(lambda m, o, x, f=flags: _step(m, o, x, **f), model0, batches, lr), start):
            if message:
                fail(name, message)
            passed(name, f"returns the loss and takes one optimizer step per call (batch {batch}, seed {seed})")
            return
    ref_loss = _trace(_step, model0, batches, lr)[0][0]
    if abs(got[0][0] - ref_loss) > 1e-4 * abs(ref_loss):
        fail(name, f"the first call returned the loss {got[0][0]:.5g}, expected {ref_loss:.5g} (squared error "
                   "summed over pixels, averaged over the batch)")
    fail(name, "the loss is right, but the weights did not move by one optimizer step on it: call "
               "optimizer.zero_grad(), loss.backward() and optimizer.step() once each")


def _angles(A, B, qr=(True, True), clamp=True, degrees=True, flip=False, arc=torch.arccos):
    """Reference principal angles (lesson 01); the flags select known mistakes."""
    Q1 = torch.linalg.qr(A.double())[0] if qr[0] else A.double()
    Q2 = torch.linalg.qr(B.double())[0] if qr[1] else B.double()
    cosines = torch.linalg.svdvals(Q1.T @ Q2)
    theta = arc(cosines.clamp(max=1.0) if clamp else cosines)
    theta = torch.rad2deg(theta) if degrees else theta
    return theta.flip(0) if flip else theta


def _angle_cases(seed: int, d: int, k: int) -> list:
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(d, k, generator=g)
    B = A @ torch.randn(k, k, generator=g) + 0.8 * torch.randn(d, k, generator=g)
    same = torch.randn(20, 4, generator=torch.Generator().manual_seed(0))  # rounds a cosine above 1
    return [("on the fixed example A = [[0.5, 0], [0, 0.4], [0, 0]], B = [[0.8, 0], [0, 0.3], [0, 0.3√3]] "
             "(angles 0° and 60°)", torch.tensor([[0.5, 0.0], [0.0, 0.4], [0.0, 0.0]]),
             torch.tensor([[0.8, 0.0], [0.0, 0.3], [0.0, 0.3 * 3**0.5]])),
            (f"on random {d}×{k} matrices (seed {seed})", A, B),
            ("on two bases of one subspace (all angles 0°)", same, same.flip(1))]


def _angle_case(name: str, fn, where: str, A: torch.Tensor, B: torch.Tensor) -> None:
    unnormalised = ("did not orthonormalise: the singular values of A.T @ B are cosines only for "
                    "orthonormal bases, so take Q1, _ = torch.linalg.qr(A) and Q2 likewise")
    kk = A.shape[1]
    out = expect_tensor(name, call(name, fn, A=A, B=B), (kk,), {
        (A.shape[0],): f"returned {A.shape[0]} values, one per row of A: use the reduced QR "
                       "(torch.linalg.qr's default) so that Q has k columns"})
    ref = _angles(A, B)
    cosines = torch.linalg.svdvals(torch.linalg.qr(A.double())[0].T @ torch.linalg.qr(B.double())[0])
    mistakes = [
        ("returned radians; convert with torch.rad2deg", lambda: _angles(A, B, degrees=False)),
        ("returned the cosines (the singular values); take torch.arccos, then convert to degrees",
         lambda: cosines),
        ("sorted largest first; return them smallest first (arccos of svdvals, which sorts the "
         "cosines largest first, already is)", lambda: _angles(A, B, flip=True)),
        (unnormalised, lambda: _angles(A, B, qr=(False, False))),
        (unnormalised, lambda: _angles(A, B, qr=(False, False), clamp=False)),
        ("orthonormalised only one of A and B; take the QR of both", lambda: _angles(A, B, qr=(True, False))),
        ("orthonormalised only one of A and B; take the QR of both", lambda: _angles(A, B, qr=(False, True))),
        ("used arcsin; the singular values are cosines, so use torch.arccos",
         lambda: _angles(A, B, arc=torch.arcsin)),
        ("NaN where a cosine is 1: rounding can push it just above 1, where arccos is undefined; "
         "clamp the cosines with .clamp(max=1.0)", lambda: torch.where(out.isfinite(), ref, torch.nan)),
    ]
    diagnose(name, out, ref, mistakes, where, rtol=0, atol=0.1)


def check_principal_angles(fn, seed: int = 0, d: int = 20, k: int = 4) -> None:
    """Check principal_angles(A, B): degrees, smallest first, via QR and svdvals (lesson 01)."""
    name = getattr(fn, "__name__", "principal_angles")
    for case in _angle_cases(seed, d, k):
        _angle_case(name, fn, *case)
    passed(name, f"degrees, smallest first, on a fixed example, random matrices (seed {seed}) "
                 "and one subspace against itself")
