"""Checks for exercises 01 (linear autoencoders and PCA): references, and the mistakes they name."""

from __future__ import annotations

import copy
import functools
import math
import types
from collections.abc import Callable

import torch
from torch import nn

from ..config import get_mode, pick
from .core import (
    Autoencoder,
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
)

__all__ = ["check_training_step", "check_linear_ae_gradients", "check_principal_directions",
           "check_bias_free_prediction", "check_alignment_lr"]  # what aecourse.checks exports from here


def _check_device(name: str, fn, **args) -> None:
    """core.check_device, except where the answer uses an operator that has no meta version (torch.cov).

    core.check_device reads "attempted to run this operator with Meta tensors" as a tensor made on the
    CPU; that error only says the meta device cannot run the operator, so nothing can be concluded.
    """
    try:
        check_device(name, fn, **args)
    except CheckFailed as err:
        cause = str(err.__cause__ or "")
        if isinstance(err.__cause__, NotImplementedError) and ("no fake impl" in cause or "Meta kernel" in cause):
            return
        raise


# ---------------------------------------------------------------- 1.1 the training step (build)


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
        if not abs(loss - ref_loss) <= 1e-4 * abs(ref_loss) + 1e-6 or not torch.allclose(  # NaN fails too
                moved, ref_moved, rtol=1e-3, atol=1e-3 * float(ref_moved.abs().max()) + 1e-9):
            return False
    return True


class _CountingSGD(torch.optim.SGD):
    """Plain SGD that counts its steps, so that a check sees whether the optimizer passed in was used."""

    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        self.steps = 0

    def step(self, closure=None):
        self.steps += 1
        return super().step(closure)


def _step_calls(name: str, fn, model0: nn.Module, batches: list, lr: float) -> list:
    """Run the learner's step on each batch; return [(loss, weights)], failing on a wrong return or no update."""
    model, start = copy.deepcopy(model0), _params(model0)
    optimizer = _CountingSGD(model.parameters(), lr=lr)
    got = []
    for x in batches:
        try:
            loss = call(name, fn, model=model, optimizer=optimizer, x=x)
        except CheckFailed as err:
            if "does not require grad" in str(err.__cause__) and not all(
                    p.requires_grad for p in model.parameters()):
                fail(name, "turned off requires_grad of the model's parameters, so loss.backward() failed and "
                           "nothing could be trained: leave the parameters as they are", err.__cause__)
            if "does not require grad" in str(err.__cause__):
                fail(name, "the loss has no autograd graph, so loss.backward() failed: it was computed under "
                           "torch.no_grad() or from detached values (.detach(), .data, .item()); compute it "
                           "from model(x) with gradients on", err.__cause__)
            raise
        if isinstance(loss, torch.Tensor):
            fail(name, "returned a tensor; return loss.item(), a Python float (a tensor keeps its graph alive)")
        if not isinstance(loss, (int, float)):
            fail(name, f"returned {type(loss).__name__}; end with `return loss.item()`")
        if not got and torch.equal(_params(model), start):
            grads = any(p.grad is not None and bool(p.grad.any()) for p in model.parameters())
            fail(name, "computed gradients but did not apply them: call optimizer.step() after loss.backward()"
                 if grads else "the weights did not change: call loss.backward(), then optimizer.step()")
        got.append((float(loss), _params(model)))
    if optimizer.steps == 0:
        fail(name, "changed the weights without calling optimizer.step() on the optimizer passed in (a new "
                   "optimizer, or a hand-written update): use the `optimizer` argument")
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
    if not abs(got[0][0] - ref_loss) <= 1e-4 * abs(ref_loss):  # NaN included
        fail(name, f"the first call returned the loss {got[0][0]:.5g}, expected {ref_loss:.5g} (squared error "
                   "summed over pixels, averaged over the batch)")
    fail(name, "the loss is right, but the weights did not move by one optimizer step on it: call "
               "optimizer.zero_grad(), loss.backward() and optimizer.step() once each")


# ---------------------------------------------------------------- 1.2 the gradients by hand (derive)

def _names(code: types.CodeType) -> set:
    """Return the global and attribute names a code object (and the functions it defines) refers to."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _differentiators() -> tuple[set, set]:
    """The modules and functions that differentiate for you: autograd and torch.func."""
    import torch.autograd.functional as af
    import torch.func as tf

    modules = {torch.autograd, af, tf}
    functions = {torch.autograd.grad, torch.autograd.backward, af.jacobian, af.vjp, af.jvp, af.hessian,
                 af.vhp, af.hvp, tf.grad, tf.grad_and_value, tf.vjp, tf.jvp, tf.jacrev, tf.jacfwd, tf.hessian}
    return {id(m) for m in modules}, {id(f) for f in functions}


def _uses_autograd(fn, seen: set | None = None) -> bool:
    """Whether fn (or a function of the learner's it calls) calls .backward(), or refers to autograd or torch.func."""
    code, seen = getattr(fn, "__code__", None), seen if seen is not None else set()
    if code is None or id(fn) in seen:
        return False
    seen.add(id(fn))
    names = _names(code)
    if "backward" in names or ("torch" in names and names & {"autograd", "func"}):
        return True
    modules, functions = _differentiators()
    refs = [fn.__globals__.get(n) for n in names]
    for cell in fn.__closure__ or ():
        try:
            refs.append(cell.cell_contents)
        except ValueError:  # an empty closure cell
            pass
    return any(id(obj) in modules or id(obj) in functions
               or isinstance(obj, types.FunctionType) and _uses_autograd(obj, seen) for obj in refs)


def _ae_grads(W_e, b_e, W_d, b_d, x, code_bias=True, recon_bias=True, through="W_d"):
    """Hand-written gradients (lesson 01's loss); the flags select known mistakes."""
    z = x @ W_e.T + (b_e if code_bias else 0)
    g = 2 * (z @ W_d.T + (b_d if recon_bias else 0) - x) / len(x)  # dL/dx_hat, (B, D)
    h = g @ (W_d if through == "W_d" else W_e.T)  # dL/dz, (B, k)
    return [h.T @ x, h.sum(dim=0), g.T @ z, g.sum(dim=0)]


def _grad_reference(W_e, b_e, W_d, b_d, x) -> list:
    """The gradients by autograd, in float64: the independent reference."""
    params = [t.detach().double().requires_grad_(True) for t in (W_e, b_e, W_d, b_d)]
    we, be, wd, bd = params
    with torch.enable_grad():
        loss = (((x.double() @ we.T + be) @ wd.T + bd - x.double()) ** 2).sum(dim=1).mean()
        return [g.detach() for g in torch.autograd.grad(loss, params)]


_GRAD_NAMES = ("g_We", "g_be", "g_Wd", "g_bd")


def _grad_inputs(seed: int, batch: int, d: int, k: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"W_e": 0.5 * torch.randn(k, d, generator=g), "b_e": torch.randn(k, generator=g),
            "W_d": 0.5 * torch.randn(d, k, generator=g), "b_d": 0.3 * torch.randn(d, generator=g),
            "x": torch.rand(batch, d, generator=g)}


def _grad_case(name: str, fn, args: dict, where: str) -> list:
    W_e, b_e, W_d, b_d, x = args.values()
    d, batch = W_e.shape[1], len(x)
    out = call(name, fn, **args)
    shapes = [tuple(W_e.shape), tuple(b_e.shape), tuple(W_d.shape), tuple(b_d.shape)]
    if isinstance(out, dict):
        fail(name, "returned a dict; return a tuple (g_We, g_be, g_Wd, g_bd)")
    if isinstance(out, torch.Tensor) or not isinstance(out, (tuple, list)):
        fail(name, f"returned {type(out).__name__}; return the four gradients as a tuple (g_We, g_be, g_Wd, g_bd)")
    if len(out) != 4:
        fail(name, f"returned {len(out)} items; return four gradients, (g_We, g_be, g_Wd, g_bd)")
    ref = _grad_reference(**args)
    got_shapes = [tuple(o.shape) if isinstance(o, torch.Tensor) else None for o in out]
    if got_shapes != shapes and sorted(map(str, got_shapes)) == sorted(map(str, shapes)):
        if any(isinstance(o, torch.Tensor) and o.shape == r.shape and close(o, r, 1e-3, 1e-4) and i != j
               for i, o in enumerate(out) for j, r in enumerate(ref)):
            fail(name, f"returned the gradients in another order (shapes {got_shapes}); return them as "
                       f"(g_We, g_be, g_Wd, g_bd), shapes {shapes}")
    for i, (o, r, gname) in enumerate(zip(out, ref, _GRAD_NAMES, strict=True)):
        if isinstance(o, torch.Tensor) and o.dim() == 2 and tuple(o.shape) == shapes[i][::-1] and shapes[i][0] != 1:
            if close(o.T, r, 1e-3, 1e-4):
                fail(name, f"{gname} is transposed: shape {tuple(o.shape)}, but a gradient has its parameter's "
                           f"shape {shapes[i]}")
        hints = {(batch, *shapes[i]): f"{gname} has a batch dimension, shape {(batch, *shapes[i])}: sum the "
                                     "per-example terms over the batch (the 1/B is already in dL/dx_hat)",
                 (): f"{gname} is a scalar; it has its parameter's shape {shapes[i]}"}
        if i == 0:
            hints[(d, d)] = ("g_We has shape (D, D): the gradient reaches W_e through the decoder, "
                             "dL/dz = (dL/dx_hat) @ W_d, then g_We = (dL/dz).T @ x")
        expect_tensor(f"{name} ({gname})", o, shapes[i], hints, dtype=x.dtype)
    out = [o.detach() for o in out]
    xd = x.double()
    g_true = 2 * ((xd @ W_e.double().T + b_e.double()) @ W_d.double().T + b_d.double() - xd) / batch
    variants = {flags: _ae_grads(*[t.double() for t in args.values()], **dict(flags)) for flags in [
        (("code_bias", False),), (("recon_bias", False),), (("through", "W_e"),)]}
    scaled = [
        ("forgot the factor 2 of the square: d/dx_hat ||x_hat - x||^2 = 2 (x_hat - x)", 0.5),
        (f"summed over the batch instead of averaging (every gradient is B = {batch} times too large): "
         "divide by B", batch),
        (f"averaged over the pixels too (every gradient is D = {d} times too small): the loss sums the "
         "squared error over pixels and averages over the batch only", 1 / d),
        ("flipped the sign: dL/dx_hat = 2 (x_hat - x) / B; with x - x_hat every gradient points uphill", -1.0),
        ("forgot the factor 2 and summed over the batch: dL/dx_hat = 2 (x_hat - x) / B", batch / 2),
    ]
    for i, gname in enumerate(_GRAD_NAMES):
        mistakes = [(m, lambda s=s, i=i: ref[i] * s) for m, s in scaled]
        mistakes += [
            ("the reconstruction left out b_e: the code is z = W_e x + b_e, and x_hat = W_d z + b_d",
             lambda i=i: variants[(("code_bias", False),)][i]),
            ("the reconstruction left out b_d: x_hat = W_d z + b_d", lambda i=i: variants[(("recon_bias", False),)][i]),
            ("back-propagated to the code through W_e.T; dL/dz = (dL/dx_hat) @ W_d goes through the decoder",
             lambda i=i: variants[(("through", "W_e"),)][i]),
        ]
        if i in (1, 3):
            mistakes.append((f"{gname} is divided by B twice: dL/dx_hat already holds the 1/B, so sum it over "
                             "the batch (.sum(dim=0), not .mean(dim=0))", lambda i=i: ref[i] / batch))
            mistakes.append((f"{gname} is zero: a bias shifts every example's output, so its gradient is the "
                             "sum over the batch of the gradient it receives", lambda i=i: torch.zeros_like(ref[i])))
        if i == 2:
            mistakes.append(("g_Wd used the code without its bias, x @ W_e.T; the decoder sees z = W_e x + b_e",
                             lambda: g_true.T @ (x.double() @ W_e.double().T)))
        diagnose(name, out[i], ref[i], mistakes, f"in {gname} {where}", rtol=1e-3, atol=1e-4)
    return out


def check_linear_ae_gradients(fn, seed: int = 0, batch: int = 3, d: int = 5, k: int = 2) -> None:
    """Check linear_ae_gradients(W_e, b_e, W_d, b_d, x) against autograd, and that it derives them by hand (lesson 01)."""
    name = getattr(fn, "__name__", "linear_ae_gradients")
    if _uses_autograd(fn):
        fail(name, "computes the gradients with autograd (torch.autograd, .backward() or torch.func): this "
                   "exercise asks you to derive them by hand; the check compares them with autograd itself")
    cases = [(_grad_inputs(seed, batch, d, k), f"on a batch of B = {batch} images of D = {d} pixels, k = {k} "
                                               f"(seed {seed})"),
             (_grad_inputs(seed + 100, 7, 12, 4), "on a second batch, B = 7, D = 12, k = 4")]
    outs = []
    for args, where in cases:
        outs.append(_grad_case(name, fn, args, where))
        with torch.inference_mode():
            try:
                fn(*[t.clone() for t in args.values()])
            except Exception as err:
                if "grad" in str(err):
                    fail(name, "computes the gradients with autograd (it fails where autograd is off): this "
                               "exercise asks you to derive them by hand", err)
    _check_device(name, fn, **cases[0][0])
    W_e, b_e, W_d = (cases[0][0][key].double() for key in ("W_e", "b_e", "W_d"))
    g_we, g_be, g_wd, _ = (o.double() for o in outs[0])
    gap = (W_e @ g_we.T + b_e[:, None] @ g_be[None, :] - g_wd.T @ W_d).abs().max().item()
    passed(name, f"matches autograd on two batches (seed {seed}); note that W_e g_We^T + b_e g_be^T and "
                 f"g_Wd^T W_d agree (largest difference {gap:.1e}): question 1.3 asks why")


# ---------------------------------------------------------------- 1.4 PCA's basis from the decoder (derive)


def _directions(W_d, x, basis="svd", centre="mean", order="desc", rows=False, project="basis", normalise=False):
    """Reference principal directions inside span(W_d) (Plaut 2018); the flags select known mistakes."""
    W_d, x = W_d.double(), x.double()
    U = {"svd": lambda: torch.linalg.svd(W_d, full_matrices=False)[0], "qr": lambda: torch.linalg.qr(W_d)[0],
         "raw": lambda: W_d, "unit": lambda: W_d / W_d.norm(dim=0)}[basis]()
    xc = {"mean": lambda: x - x.mean(dim=0), "none": lambda: x, "row": lambda: x - x.mean(dim=1, keepdim=True)}[centre]()
    y = xc @ (U if project == "basis" else W_d)
    _, _, Vt = torch.linalg.svd(y, full_matrices=False)  # rows: directions in the basis, largest variance first
    R = Vt.T if order == "desc" else Vt.T.flip(1)
    out = U @ (R.T if rows else R)
    return out / out.norm(dim=0) if normalise else out


def _align(out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Flip the sign of each column of out to agree with ref's (a direction has no sign)."""
    s = torch.sign((out.double() * ref.double()).sum(dim=0))
    return out.double() * torch.where(s == 0, 1.0, s)


def _dir_inputs(seed: int, n: int, d: int, k: int, exact: bool):
    g = torch.Generator().manual_seed(seed)
    scales = torch.linspace(3.0, 0.4, d)
    rotation = torch.linalg.qr(torch.randn(d, d, generator=g))[0]
    x = (torch.randn(n, d, generator=g) * scales) @ rotation.T + 3 + torch.rand(d, generator=g)
    if exact:  # a decoder that spans PCA's subspace exactly, as a fully trained linear AE's does
        V_k = torch.linalg.svd(x.double() - x.double().mean(dim=0), full_matrices=False)[2][:k].T
        return (V_k @ torch.randn(k, k, generator=g, dtype=torch.float64)).float(), x, V_k
    return torch.randn(d, k, generator=g), x, None


def _dir_case(name: str, fn, W_d: torch.Tensor, x: torch.Tensor, pca: torch.Tensor | None, where: str) -> None:
    (d, k), n = W_d.shape, len(x)
    out = expect_tensor(name, call(name, fn, W_d=W_d, x=x), (d, k), {
        (k, d): f"returned shape {(k, d)}: the directions are the columns of a (D, k) = {(d, k)} matrix",
        (k, k): f"returned the k x k rotation inside the subspace; map it back to pixel space: U @ R, shape {(d, k)}",
        (d, d): f"returned shape {(d, d)}: keep only the k directions that span the decoder's columns",
        (n, k): "returned the data's coordinates (N, k); return the directions, shape (D, k)"},
        dtype=W_d.dtype).double()
    ref = _directions(W_d, x)
    if close(_align(out, ref), ref, 0, 2e-3):
        return
    mistakes = [
        ("did not centre the data: the principal directions are those of x - x.mean(dim=0)", {"centre": "none"}),
        ("centred each image by its own mean (dim=1); subtract the mean image, x.mean(dim=0)", {"centre": "row"}),
        ("returned the directions smallest variance first (torch.linalg.eigh sorts eigenvalues ascending); "
         "return the largest first", {"order": "asc"}),
        ("used the eigenvectors as rows: torch.linalg.eigh returns them as the columns of R, so the "
         "directions are U @ R", {"rows": True}),
        ("used the eigenvectors as rows and kept eigh's ascending order: the directions are U @ R.flip(1)",
         {"rows": True, "order": "asc"}),
        ("used the decoder's left singular vectors as they are (ordered by W_d's singular values): they span "
         "the right subspace, but the decoder's scales say nothing about the data's variance; rotate them by "
         "the eigenvectors of the data's covariance in that basis", {"basis": "svd", "rotate": False}),
        ("returned the QR basis of the decoder's columns: it spans the right subspace, but it is not PCA's "
         "basis; rotate it by the eigenvectors of the data's covariance in that basis",
         {"basis": "qr", "rotate": False}),
        ("projected the data on W_d's columns themselves, which are not orthonormal, so the result is not an "
         "orthonormal basis: take U from torch.linalg.qr(W_d) or torch.linalg.svd(W_d) first",
         {"basis": "raw", "project": "raw"}),
        ("projected the data on W_d's columns themselves, which are not orthonormal: normalising the columns "
         "is not enough; take U from torch.linalg.qr(W_d) or torch.linalg.svd(W_d)", {"basis": "unit", "project": "raw"}),
        ("projected the data on W_d's columns themselves, which are not orthonormal: normalising the columns "
         "is not enough; take U from torch.linalg.qr(W_d) or torch.linalg.svd(W_d)",
         {"basis": "raw", "project": "raw", "normalise": True}),
        ("normalised W_d's columns, but they are not orthogonal to each other; take an orthonormal basis U "
         "from torch.linalg.qr(W_d) or torch.linalg.svd(W_d)", {"basis": "unit"}),
    ]
    for message, flags in mistakes:
        flags = dict(flags)
        if flags.pop("rotate", True) is False:
            wrong = {"svd": lambda: torch.linalg.svd(W_d.double(), full_matrices=False)[0],
                     "qr": lambda: torch.linalg.qr(W_d.double())[0]}[flags["basis"]]()
        else:
            wrong = _directions(W_d, x, **flags)
        if close(_align(out, wrong), wrong, 0, 2e-3):
            fail(name, f"{message} (seen {where})")
    xc = x.double() - x.double().mean(dim=0)
    top = torch.linalg.svd(xc, full_matrices=False)[2][:k].T
    if pca is None and close(_align(out, top), top, 0, 2e-3):
        fail(name, f"returned the top-{k} principal directions of x itself, ignoring W_d; the answer must lie in "
                   f"the decoder's column space (seen {where})")
    if not torch.isfinite(out).all():
        fail(name, f"returned NaN or inf {where}")
    gram = out.T @ out
    off = (gram - torch.eye(k, dtype=gram.dtype)).abs()
    if off.max() > 1e-3:
        i, j = divmod(int(off.argmax()), k)
        fail(name, f"the columns are not orthonormal {where}: entry ({i}, {j}) of A.T @ A (A your result) is "
                   f"{gram[i, j].item():.4g}, "
                   f"expected {float(i == j):g}")
    Q = torch.linalg.qr(W_d.double())[0]
    outside = (out - Q @ (Q.T @ out)).norm(dim=0)
    if outside.max() > 1e-3:
        j = int(outside.argmax())
        fail(name, f"column {j} does not lie in the column space of W_d {where}: the part of it outside has "
                   f"length {outside[j].item():.3g} (the answer is U @ R with U a basis of that space)")
    var_out = (xc @ out).var(dim=0)
    var_ref = (xc @ ref).var(dim=0)
    j = int((var_out - var_ref).abs().argmax())
    fail(name, f"your columns are an orthonormal basis of the decoder's space, but not the principal one {where}: "
               f"the data's variance along column {j} is {var_out[j].item():.4g}, expected {var_ref[j].item():.4g} "
               f"(all, expected: {[round(v, 3) for v in var_ref.tolist()]}; yours: "
               f"{[round(v, 3) for v in var_out.tolist()]})")


def check_principal_directions(fn, seed: int = 0, n: int = 200, d: int = 20, k: int = 4) -> None:
    """Check principal_directions(W_d, x): PCA's directions inside the decoder's span, largest variance first (lesson 01)."""
    name = getattr(fn, "__name__", "principal_directions")
    cases = [(*_dir_inputs(1000 + seed, 8, 5, 3, exact=False), "on a small example (8 images of D = 5 pixels, "
                                                                "a decoder with k = 3 columns)"),
             (*_dir_inputs(seed, n, d, k, exact=False), f"on random data (seed {seed}: x {n}×{d}, W_d {d}×{k})"),
             (*_dir_inputs(seed + 1, n, d, k, exact=True),
              f"with a decoder that spans PCA's top-{k} subspace exactly (seed {seed + 1}: x {n}×{d}); "
              "there the answer is PCA's own first k directions")]
    for W_d, x, pca, where in cases:
        _dir_case(name, fn, W_d, x, pca, where)
    _check_device(name, fn, W_d=cases[1][0], x=cases[1][1])
    passed(name, f"PCA's directions of the decoder's subspace, in order, on three cases (seed {seed}), "
                 f"including a decoder that spans PCA's subspace")


# ---------------------------------------------------------------- 1.5 no biases (predict)

_BIAS_FREE = {
    "A": "Within a fraction of a percent: x_hat = W_d W_e x can reproduce the mean image through the code, and "
         "the mean lies almost inside PCA's 30-dimensional subspace (only about 1 % of its squared norm is outside), so "
         "the subspace that serves the digits also serves the mean.",
    "B": "Giving one code unit to the mean would cost about one component, but the mean needs no unit of its "
         "own: it lies almost entirely inside the subspace the other units span anyway.",
    "C": "Without a bias the map is still free to reproduce the mean through the code: it lies almost inside "
         "PCA's subspace, so the loss is nowhere near 50 % larger.",
    "D": "Bias-free maps are affine maps with b = 0, so on the training images PCA (the best affine rank-30 map) "
         "is at least as good, and the run shows it stays ahead on the test images.",
}


def check_bias_free_prediction(answer) -> None:
    """Grade the prediction of exercise 1.5: the best linear autoencoder without biases against PCA-30 (lesson 01)."""
    check_choice("prediction_1_5", answer, "A", _BIAS_FREE)


# ---------------------------------------------------------------- 1.6 a learning rate that aligns (experiment)

ALIGN_K, ALIGN_BATCH = 10, 128


def align_budget() -> dict:
    """The experiment's budget and target in the current mode: training images, epochs, median angle."""
    return {"n": pick(smoke=2000, standard=10000, full=10000), "epochs": pick(smoke=4, standard=4, full=4),
            "target": pick(smoke=80.0, standard=10.0, full=10.0)}


@functools.lru_cache(maxsize=2)
def _align_data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n training images (the lessons' split) and their top-k principal directions, (D, k)."""
    from ..data import load_mnist, train_val_split

    x, y = load_mnist("train", flatten=True)
    (x_tr, _), _ = train_val_split(x, y, val_size=5_000)
    x_tr = x_tr[:n]
    xc = x_tr.double() - x_tr.double().mean(dim=0)
    V = torch.linalg.eigh(xc.T @ xc)[1].flip(1)[:, :ALIGN_K]
    return x_tr, V


def _angles_deg(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    Q1, Q2 = torch.linalg.qr(A.double())[0], torch.linalg.qr(B.double())[0]
    return torch.rad2deg(torch.arccos(torch.linalg.svdvals(Q1.T @ Q2).clamp(max=1.0)))


def _alignment_run(lr: float, n: int, epochs: int) -> tuple[torch.Tensor, float]:
    """Train the linear AE (k = 10) with Adam at lr as exercise 1.6 does.

    Return its principal angles to PCA's top-10 subspace (degrees) and the share of the variance
    that PCA's subspace keeps which the decoder's subspace keeps too.
    """
    from ..training import fit

    x_tr, V = _align_data(n)

    def make_and_train():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(784, ALIGN_K), nn.Linear(ALIGN_K, 784))
        fit(model, lambda m, x: ((m(x) - x) ** 2).sum(dim=1).mean(), x_tr, epochs=epochs,
            batch_size=ALIGN_BATCH, lr=lr, verbose=False, progress=False)
        return model[1].weight.detach()

    with torch.random.fork_rng(devices=[]):
        W_d = make_and_train()
    if not torch.isfinite(W_d).all():
        raise FloatingPointError("the decoder's weights are not finite")
    xc = x_tr.double() - x_tr.double().mean(dim=0)
    Q = torch.linalg.qr(W_d.double())[0]
    kept = float((xc @ Q).square().sum() / (xc @ V).square().sum())
    return _angles_deg(W_d, V), kept


def check_alignment_lr(lr) -> None:
    """Train the linear AE with the learning rate of exercise 1.6 and measure its median principal angle (lesson 01)."""
    name = "lr_1_6"
    require_answer(name, lr, "`lr_1_6` to a learning rate (a positive number)")
    if isinstance(lr, torch.Tensor) and lr.numel() == 1:
        lr = lr.item()
    if isinstance(lr, (bool, str)) or not isinstance(lr, (int, float)) and not hasattr(lr, "__float__"):
        fail(name, f"expected one positive number, e.g. 3e-4; got {lr!r}")
    lr = float(lr)
    if not math.isfinite(lr) or lr <= 0:
        fail(name, f"a learning rate is a positive number; got {lr!r}")
    budget = align_budget()
    try:
        angles, kept = _alignment_run(lr, budget["n"], budget["epochs"])
    except FloatingPointError:
        fail(name, f"at lr = {lr:g} the run diverged (the loss or the weights became NaN or inf); try a "
                   "smaller learning rate")
    median, target, mode = angles.median().item(), budget["target"], get_mode()
    if median > target:
        fail(name, f"at lr = {lr:g}, after {budget['epochs']} epochs on {budget['n']} images, the median "
                   f"principal angle is {median:.1f}°, {median - target:.1f}° above the target {target:g}° "
                   f"({mode} mode's target); try learning rates a factor of 2 or 3 apart, on both sides of yours")
    passed(name, f"at lr = {lr:g} the median principal angle is {median:.1f}° (target {target:g}°, {mode} "
                 f"mode's), the largest {angles.max().item():.1f}°; the decoder's subspace keeps "
                 f"{kept:.1%} of the variance PCA's keeps")
