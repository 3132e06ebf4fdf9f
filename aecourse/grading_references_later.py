"""The grader's references for lessons 06-09 (aecourse.grading_references holds the helpers and lessons 01-05).

The same rules hold: inputs drawn from the grader's seed with the checks' own input makers, and
tolerances looser than the check's, so that a probe accepts every answer its check accepts.
"""

from __future__ import annotations

from .grading_references import (
    Probe,
    _compare,
    _detached,
    _each,
    _fresh_draws,
    _g,
    _near,
    _number,
    _tensor,
)


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


LATER = {
    "check_train_top_layer": _train_top_layer, "check_pretrain_layerwise": _pretrain_layerwise,
    "check_receptive_field": _receptive_field, "check_tap_counts": _tap_counts, "check_conv_decoder": _conv_decoder,
    "check_reparameterize": _reparameterize, "check_kl_diag_gaussians": _kl_diag_gaussians,
    "check_gaussian_log_likelihood": _gaussian_log_likelihood, "check_reconstruction_scores": _reconstruction_scores,
    "check_auroc": _auroc, "check_threshold_for_fpr": _threshold_for_fpr,
}
