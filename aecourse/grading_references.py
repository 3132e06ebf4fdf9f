"""The grader's references for aecourse.grading_probes: inputs and a judge for every function answer.

Each probe draws its inputs from a seed (the grader's secret one) with the check's own input
makers, and judges the learner's outputs against the check's own references, with tolerances
looser than the check's: a probe must accept every answer its check accepts
(tests/test_grading_probes.py runs both on the course's answers, right and wrong).
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


def _conv_decoder() -> Probe:
    import torch

    from .checks import lesson07 as m

    def cases(seed):
        g = torch.Generator().manual_seed(seed)
        channels = tuple(int(c) for c in torch.randint(2, 17, (3,), generator=g))
        return [[channels, {"__trace__": torch.randn(2, channels[2], 4, 4, generator=g).relu()}]]

    def judge(args, got):
        channels, spec = args
        if "error" in got:
            raise ValueError(f"raised {got['error']}")
        out = got["out"]
        if not isinstance(out, dict) or "kinds" not in out:
            return f"did not return an nn.Sequential (got {out})"
        plan = [layer for layer, _ in m._decoder_plan(channels)]
        h, shapes = spec["__trace__"], []
        with torch.no_grad():
            for layer in plan:
                h = layer(h)
                shapes.append(list(h.shape))
        want = {"kinds": [m._kind(layer) for layer in plan], "shapes": shapes,
                "params": sum(m._count(layer) for layer in plan)}
        for key in ("kinds", "shapes", "params"):
            if out.get(key) != want[key]:
                return f"for channels {channels}, its layers' {key} are {out.get(key)}, expected {want[key]}"
        return None
    return Probe(cases, _each(judge))


def _receptive_field() -> Probe:
    from .checks import lesson07 as m

    def judge(args, got):
        got_value, want = _number(got), m._receptive_field_reference(args[0])
        return None if got_value == want else f"returned {got_value:g}, expected {want}"
    return Probe(lambda seed: [[[tuple(layer) for layer in layers]] for layers in m.RF_SETTINGS], _each(judge))


def _tap_counts() -> Probe:
    from .checks import lesson07 as m

    def cases(seed):
        return [list(s) for s in m.TAP_SETTINGS[seed % 3]]
    return Probe(cases, _compare(m._tap_reference, 0, 0))


def _train_top_layer() -> Probe:
    import torch

    from .checks import lesson06 as m

    lr, stale = 0.1, 0.25

    def cases(seed):
        g = torch.Generator().manual_seed(seed)
        sizes = [int(torch.randint(lo, hi, (), generator=g)) for lo, hi in ((6, 13), (4, 9), (3, 7), (2, 4))]
        batch = int(torch.randint(4, 17, (), generator=g))
        encoders, decoder = m._frozen_stack(seed, sizes)
        states = [m._state(e) for e in (*encoders, decoder)]
        x = m._data(seed, batch, sizes[0]) * 2 - 0.5
        return [[{"__build__": "frozen_stack", "sizes": sizes, "states": states, "stale": stale},
                 {"__build__": "stack_decoder"}, x, {"__build__": "optimizer_all", "lr": lr}]]

    def judge(args, got):
        spec, x = args[0], args[2]
        encoders, decoder = m._frozen_stack(0, spec["sizes"])
        for module, state in zip((*encoders, decoder), spec["states"], strict=True):
            module.load_state_dict(state)
        ref = m._top_reference(encoders, decoder, x, stale, lr)
        loss = _number(got)
        if not abs(loss - ref["loss"]) <= 1e-3 * max(1.0, abs(ref["loss"])):  # NaN fails too
            return f"returned the loss {loss:.5g}, expected {ref['loss']:.5g}"
        if not got.get("trainable"):
            return "left parameters with requires_grad=False"
        lower = len(encoders) - 1
        for i, module in enumerate(encoders[:lower]):
            now = got["after"][i][:-1] + got["buffers"][i]
            if not all(torch.equal(a, b) for a, b in zip(now, [*module.parameters(), *module.buffers()], strict=True)):
                return f"the frozen layer encoders[{i}] changed (its weights or its BatchNorm's running statistics)"
        top = [p for i in (lower, lower + 1) for p in got["after"][i][:-1]]
        return _near(torch.cat([p.flatten() for p in top]).double(),
                     torch.cat([p.flatten() for p in ref["steps"]["right"]]), 1e-3, 1e-5)
    return Probe(cases, _each(judge))


def _pretrain_layerwise() -> Probe:
    from .grading_pretrain import (
        pretrain_layerwise_probe,  # its own module: the kernel's train_pair and its judge
    )

    return pretrain_layerwise_probe()


def _reparameterize() -> Probe:
    import torch

    def cases(seed):
        g = torch.Generator().manual_seed(seed)
        mu = 1.5 * torch.randn(2000, 4, generator=g)
        log_var = torch.tensor([-4.0, -1.0, 0.5, 2.0]).expand(2000, 4).clone()
        return [[_g(mu, False), _g(log_var, False)]] * 2

    def judge(args, got):
        mu, log_var = (t.double() for t in args)
        z = _tensor(got, tuple(mu.shape))
        if not torch.isfinite(z).all():
            return "returned NaN or inf"
        eps = (z - mu) / (0.5 * log_var).exp()  # (B, K): N(0, 1) in every column if z = mu + sigma · eps
        for j in range(eps.shape[1]):
            mean, sd = eps[:, j].mean().item(), eps[:, j].std().item()
            if abs(mean) > 0.12 or abs(sd - 1) > 0.1:
                return (f"where log_var = {log_var[0, j].item():g}, (z − mu) / sigma has mean {mean:.3f} and standard "
                        f"deviation {sd:.3f}; for z = mu + sigma · eps, eps ~ N(0, 1), they are about 0 and 1")
        if torch.corrcoef(eps.T).fill_diagonal_(0).abs().max() > 0.3:
            return "the noise of different latent dimensions is correlated: draw one number per entry of mu"
        return None
    return Probe(cases, _fresh_draws(judge))


def _kl_diag_gaussians() -> Probe:
    from .checks import lesson08 as m

    def cases(seed):
        return [[_g(t, False) for t in m._kl2_inputs(seed, 8, 4).values()]]
    return Probe(cases, _compare(m.kl_diag_reference, 1e-3, 1e-3))


def _gaussian_log_likelihood() -> Probe:
    import torch
    from torch.distributions import Independent, Normal

    from .checks import lesson08 as m

    def ref(x, mean, log_var):
        return Independent(Normal(mean.double(), torch.exp(0.5 * log_var.double())), 1).log_prob(x.double())

    def cases(seed):
        x, mean, log_var = _detached(*m._ll_inputs(seed, 6, 10).values())
        return [[x, _g(mean, False), _g(log_var, False)]]
    return Probe(cases, _compare(ref, 1e-3, 1e-3))


def _reconstruction_scores() -> Probe:
    import torch
    from torch import nn

    def cases(seed):
        g = torch.Generator().manual_seed(seed)
        weights = [0.05 * torch.randn(16, 784, generator=g), 0.1 * torch.randn(16, generator=g),
                   0.05 * torch.randn(784, 16, generator=g), 0.1 * torch.randn(784, generator=g)]
        x = torch.rand(5, 1, 28, 28, generator=g)
        return [[{"__build__": "scorer", "sizes": [784, 16], "weights": weights, "training": training}, x]
                for training in (True, False)]

    def judge(args, got):
        spec, x = args
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 784),
                              nn.Sigmoid())
        with torch.no_grad():
            for p, w in zip(model.parameters(), spec["weights"], strict=True):
                p.copy_(w)
            ref = ((model.eval()(x) - x.flatten(1)) ** 2).double().sum(dim=1)
        why = _near(_tensor(got, (len(x),)), ref, 1e-3, 1e-4)
        if why is None and got["after"][0][-1] != spec["training"]:
            return "left the model in another mode than it was in: restore model.train(was_training)"
        return why
    return Probe(cases, _each(judge))


def _auroc() -> Probe:
    from .checks import lesson09 as m

    def judge(args, got):
        from sklearn.metrics import roc_auc_score

        scores, labels = args
        out, ref = _number(got), float(roc_auc_score(labels.numpy(), scores.numpy()))
        return None if abs(out - ref) <= 1e-5 else f"returned {out:.6f}, expected {ref:.6f}"
    return Probe(lambda seed: [[s, lab] for _, s, lab in m._auroc_cases(seed, 300)], _each(judge))


def _threshold_for_fpr() -> Probe:
    from .checks import lesson09 as m

    def judge(args, got):
        scores, fpr = args
        t, s = _number(got), scores.double()
        above, at_or_above = float((s > t).double().mean()), float((s >= t).double().mean())
        if above <= fpr + 1e-9 and at_or_above > fpr + 1e-9:
            return None
        return (f"t = {t:.5g} leaves {above:.2%} of the normal scores above it; expected the smallest score "
                f"with at most {fpr:.0%} above it, {m._reference_threshold(scores, fpr):.5g}")
    return Probe(lambda seed: [[s, f] for _, s, f in m._threshold_cases(seed, 500, 0.05)], _each(judge))


PROBED: dict[str, Callable[[], Probe]] = {
    "check_training_step": _training_step, "check_linear_ae_gradients": _linear_ae_gradients,
    "check_principal_directions": _principal_directions, "check_bce_loss": _bce_loss,
    "check_bce_from_logits": _bce_from_logits, "check_kl_sparsity": _kl_sparsity,
    "check_kl_sparsity_grad": _kl_sparsity_grad, "check_salt_and_pepper": _salt_and_pepper,
    "check_expected_mse": _expected_mse, "check_contractive_penalty": _contractive_penalty,
    "check_two_layer_jacobian": _two_layer_jacobian, "check_receptive_field": _receptive_field,
    "check_tap_counts": _tap_counts, "check_conv_decoder": _conv_decoder, "check_reparameterize": _reparameterize,
    "check_kl_diag_gaussians": _kl_diag_gaussians, "check_gaussian_log_likelihood": _gaussian_log_likelihood,
    "check_reconstruction_scores": _reconstruction_scores, "check_auroc": _auroc,
    "check_threshold_for_fpr": _threshold_for_fpr, "check_train_top_layer": _train_top_layer,
    "check_pretrain_layerwise": _pretrain_layerwise,
}
