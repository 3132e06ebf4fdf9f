"""The grader's references for aecourse.grading_probes: inputs and a judge for every function answer.

Each probe draws its inputs from a seed (the grader's secret one) with the check's own input
makers, and judges the learner's outputs against the check's own references, with tolerances
looser than the check's: a probe must accept every answer its check accepts
(tests/test_grading_probes.py runs both on the course's answers, right and wrong). This module
holds the helpers and the probes of lessons 01-05; aecourse.grading_references_later those of 06-09.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Probe:
    """Inputs drawn from a seed, and a judge of the outputs: None when right, else what is wrong."""

    cases: Callable[[int], list[list]]
    judge: Callable[[list, dict], str | None]


# -- judging helpers ---------------------------------------------------------------------------------


def _tensor(got: dict, shape: tuple | None = None):
    """Return the output as a float64 tensor, or raise ValueError saying what came instead."""
    import torch

    if "error" in got:
        raise ValueError(f"raised {got['error']}")
    out = got["out"]
    if isinstance(out, list):
        try:
            out = torch.tensor(out)
        except (TypeError, ValueError):
            raise ValueError("returned a list that is not numbers") from None
    if isinstance(out, (int, float)) and not isinstance(out, bool):
        out = torch.tensor(float(out))
    if not isinstance(out, torch.Tensor) or out.dtype == torch.bool or out.is_complex():
        raise ValueError(f"returned {type(out).__name__ if not isinstance(out, dict) else out}, not numbers")
    if shape is not None and tuple(out.shape) != tuple(shape):
        raise ValueError(f"returned shape {tuple(out.shape)}, expected {tuple(shape)}")
    return out.double()


def _number(got: dict) -> float:
    out = _tensor(got)
    if out.numel() != 1:
        raise ValueError(f"returned {out.numel()} numbers, expected one")
    return float(out.reshape(()))


def _near(out, ref, rtol: float, atol: float) -> str | None:
    import torch

    ref = ref.double()
    if out.shape != ref.shape:
        return f"shape {tuple(out.shape)}, expected {tuple(ref.shape)}"
    if torch.allclose(out, ref, rtol=rtol, atol=atol, equal_nan=True):
        return None
    err = (out - ref).abs()
    return f"largest difference from the grader's reference {err.nan_to_num(math.inf).max().item():.3g}"


def _each(fn: Callable[[list, dict], str | None]) -> Callable[[list, list], str | None]:
    """Judge every case with fn(args, got); return the first failure, numbered."""
    def judge(cases: list, outs: list) -> str | None:
        if len(outs) != len(cases):
            return f"the kernel returned {len(outs)} results for {len(cases)} inputs"
        for i, (args, got) in enumerate(zip(cases, outs, strict=True)):
            try:
                why = fn([a["__grad__"] if isinstance(a, dict) and "__grad__" in a else a for a in args], got)
            except ValueError as err:
                why = str(err)
            if why:
                return f"input {i + 1} of {len(cases)}: {why}"
        return None
    return judge


def _compare(reference: Callable, rtol: float, atol: float):
    """Judge by one reference output per case."""
    def fn(args, got):
        ref = reference(*args)
        return _near(_tensor(got, tuple(ref.shape)), ref, rtol, atol)
    return _each(fn)


# -- the probes, one per function answer -------------------------------------------------------------


def _g(t, leaf: bool) -> dict:
    """Mark an input that the kernel must pass with requires_grad, as the check does (a leaf, or computed)."""
    return {"__grad__": t.detach().clone(), "leaf": leaf}


def _detached(*ts):
    return [t.detach().clone() if hasattr(t, "detach") else t for t in ts]


def _linear_ae_gradients() -> Probe:
    from .checks import lesson01 as m

    def cases(seed):
        return [list(_detached(*m._grad_inputs(seed, 5, 7, 3).values())),
                list(_detached(*m._grad_inputs(seed + 1, 2, 4, 2).values()))]

    def judge(args, got):
        if "error" in got:
            raise ValueError(f"raised {got['error']}")
        if not isinstance(got["out"], list) or len(got["out"]) != 4:
            return "did not return four gradients"
        refs = m._grad_reference(*args)
        for gname, o, r in zip(m._GRAD_NAMES, got["out"], refs, strict=True):
            why = _near(_tensor({"out": o}, tuple(r.shape)), r, 1e-3, 1e-3 * float(r.abs().max()) + 1e-6)
            if why:
                return f"{gname}: {why}"
        return None
    return Probe(cases, _each(judge))


def _principal_directions() -> Probe:
    from .checks import lesson01 as m

    def cases(seed):
        return [list(m._dir_inputs(seed, 60, 8, 3, exact=False)[:2]), list(m._dir_inputs(seed + 7, 9, 5, 2, exact=False)[:2])]

    def judge(args, got):
        ref = m._directions(*args)
        return _near(m._align(_tensor(got, tuple(ref.shape)), ref), ref, 0, 5e-3)
    return Probe(cases, _each(judge))


def _training_step() -> Probe:
    import copy

    import torch
    from torch import nn

    from .checks import lesson01 as m
    from .checks.core import Autoencoder, seeded

    def model_of(weights):
        model = Autoencoder(nn.Linear(784, 4), nn.Linear(4, 784))  # as the check builds it
        with torch.no_grad():
            for p, w in zip(model.parameters(), weights, strict=True):
                p.copy_(w)
        return model

    def cases(seed):
        start = seeded(seed, lambda: Autoencoder(nn.Linear(784, 4), nn.Linear(4, 784)))
        weights = [p.detach().clone() for p in start.parameters()]
        x = torch.rand(8, 784, generator=torch.Generator().manual_seed(seed))
        return [[{"__build__": "linear_ae", "sizes": [784, 4], "weights": weights},
                 {"__build__": "optimizer", "lr": 1e-4}, x]]

    def judge(args, got):
        model = model_of(args[0]["weights"])
        start = m._params(model)
        ref = copy.deepcopy(model)
        loss = m._step(ref, torch.optim.SGD(ref.parameters(), lr=args[1]["lr"]), args[2].clone())
        number = _number(got)
        if not abs(number - loss) <= 1e-3 * abs(loss) + 1e-6:  # NaN fails too
            return f"returned the loss {number:.5g}, expected {loss:.5g}"
        after = got["after"][0][:-1]
        moved = torch.cat([p.flatten() for p in after]).double() - start.double()
        want = m._params(ref).double() - start.double()
        return _near(moved, want, 1e-2, 1e-2 * float(want.abs().max()) + 1e-9)
    return Probe(cases, _each(judge))


def _bce_loss() -> Probe:
    import torch.nn.functional as F

    from .checks import lesson02 as m

    def cases(seed):
        return [[_g(p, True), x] for _, p, x in m._bce_cases(seed, 3, 60)]
    return Probe(cases, _compare(lambda p, x: F.binary_cross_entropy(p.double(), x.double(), reduction="sum")
                                 / len(x), 1e-3, 1e-2))


def _bce_from_logits() -> Probe:
    from .checks import lesson02 as m

    def ref(lg, x):
        ld, xd = lg.double(), x.double()
        return (ld.clamp(min=0) - ld * xd + (-ld.abs()).exp().log1p()).sum(dim=1).mean()

    def cases(seed):
        return [[_g(lg, True), x] for _, lg, x in m._logit_cases(seed, 3, 60)]
    return Probe(cases, _compare(ref, 1e-3, 1e-2))


def _kl_sparsity() -> Probe:
    import torch

    from .checks import lesson03 as m

    def cases(seed):
        rho, beta = (0.05, 3.0) if seed % 2 else (0.1, 2.0)
        return [[_g(m._activations(seed, 16, 10)[1], False), rho, beta]]

    def judge(args, got):
        out = _tensor(got, ())
        refs = [m.kl_sparsity_reference(args[0], args[1], args[2], eps) for eps in m.EPS_ACCEPTED]
        if any(_near(out, r, 1e-3, 1e-4) is None for r in refs):
            return None
        return _near(out, torch.as_tensor(refs[0]), 1e-3, 1e-4)
    return Probe(cases, _each(judge))


def _kl_sparsity_grad() -> Probe:
    from .checks import lesson03 as m

    def cases(seed):
        return [[m._activations(seed, 12, 7)[1].detach(), 0.1, 2.5]]
    return Probe(cases, _compare(m.kl_grad_reference, 1e-3, 1e-5))


def _fresh_draws(judge_one: Callable[[list, dict], str | None]) -> Callable[[list, list], str | None]:
    """Judge each of two calls on the same inputs, then that the two calls drew different noise."""
    each = _each(judge_one)

    def judge(cases: list, outs: list) -> str | None:
        why = each(cases, outs)
        if why is None and _tensor(outs[0]).equal(_tensor(outs[1])):
            return "returned the same result on two calls: draw new random numbers on every call"
        return why
    return judge


def _salt_and_pepper() -> Probe:
    from .checks import lesson04 as m

    def cases(seed):
        x = m._inputs(seed, 64, 784)
        return [[x, 0.2], [x, 0.2]]

    def judge(args, got):
        x, p = args
        out = _tensor(got, tuple(x.shape))
        changed = out != x.double()
        if not ((out[changed] == 0) | (out[changed] == 1)).all():
            return "changed some pixels to values other than 0 and 1"
        share = changed.double().mean().item()
        if abs(share - p) > 0.02:
            return f"corrupted {share:.1%} of the pixels, expected about {p:.0%}"
        salt = (out[changed] == 1).double().mean().item()
        if abs(salt - 0.5) > 0.05:
            return f"{salt:.0%} of the corrupted pixels are 1, expected about half"
        if (changed[1:] == changed[:-1]).double().mean().item() > 0.9:
            return "corrupted the same pixels in every image: draw the mask per pixel of every image"
        both = changed[1:] & changed[:-1]
        if (out[1:][both] == out[:-1][both]).double().mean().item() > 0.9:
            return "chose salt or pepper alike in every image: draw that choice per pixel of every image"
        return None
    return Probe(cases, _fresh_draws(judge))


def _expected_mse() -> Probe:
    from .checks import lesson04 as m

    def cases(seed):
        return [[m._mse_inputs(seed, 6, 50), 0.3]]
    return Probe(cases, _compare(m.expected_mse_reference, 1e-3, 1e-6))


def _contractive_penalty() -> Probe:
    import torch

    from .checks import lesson05 as m
    from .penalties import contractive_sigmoid  # the closed form, equal to jacrev's ‖J‖²_F

    def cases(seed):
        x, w, b = m._sigmoid_layer(seed, 4, 16, 60)
        return [[_g(torch.sigmoid(x @ w.T + b), False), _g(w, True), 0.3]]
    return Probe(cases, _compare(lambda h, w, lam: contractive_sigmoid(h.double(), w.double(), lam), 1e-3, 1e-5))


def _two_layer_jacobian() -> Probe:
    from .checks import lesson05 as m

    def cases(seed):
        x, *weights = m._two_layer(seed, 3, 7, 5, 4)
        return [[x] + [_g(w, True) for w in weights]]
    return Probe(cases, _compare(m._two_layer_reference, 1e-3, 1e-5))


EARLIER: dict[str, Callable[[], Probe]] = {  # lessons 01-05; aecourse.grading_references_later holds 06-09
    "check_training_step": _training_step, "check_linear_ae_gradients": _linear_ae_gradients,
    "check_principal_directions": _principal_directions, "check_bce_loss": _bce_loss,
    "check_bce_from_logits": _bce_from_logits, "check_kl_sparsity": _kl_sparsity,
    "check_kl_sparsity_grad": _kl_sparsity_grad, "check_salt_and_pepper": _salt_and_pepper,
    "check_expected_mse": _expected_mse, "check_contractive_penalty": _contractive_penalty,
    "check_two_layer_jacobian": _two_layer_jacobian,
}
