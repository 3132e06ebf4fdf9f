"""The grader's own measure of a trained model (exercises 2.4 and 7.6), outside the student's kernel.

The kernel describes the learner's model as data: for the encoder and the decoder, the standard
PyTorch layers they chain (kind, constructor arguments, weights). The grader rebuilds those layers
with its own constructors, loads the weights, and measures the rebuilt decoder(encoder(x)) on the
check's test images, against the check's own limits and target. No code of the learner's runs in
the grader: a described model is one that PyTorch's own layers compute.

A model the kernel cannot describe so (a layer of the learner's own, a forward pass that is not
decoder(encoder(x)), hooks) is not rebuilt: its cell keeps the kernel's verdict, and the report
names it "checked in the kernel only", with the reason.
"""

from __future__ import annotations

import math

LAYERS = {  # the layers the grader rebuilds: kind -> the constructor arguments, read from the layer's attributes
    "Linear": ("in_features", "out_features", "bias"),
    "Conv1d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias",
               "padding_mode"),
    "Conv2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias",
               "padding_mode"),
    "ConvTranspose1d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding",
                        "groups", "bias", "dilation"),
    "ConvTranspose2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding",
                        "groups", "bias", "dilation"),
    "MaxPool1d": ("kernel_size", "stride", "padding", "dilation", "ceil_mode"),
    "MaxPool2d": ("kernel_size", "stride", "padding", "dilation", "ceil_mode"),
    "AvgPool1d": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"),
    "AvgPool2d": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
    "AdaptiveAvgPool2d": ("output_size",),
    "Upsample": ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor"),
    "UpsamplingNearest2d": ("size", "scale_factor"),
    "UpsamplingBilinear2d": ("size", "scale_factor"),
    "PixelShuffle": ("upscale_factor",),
    "PixelUnshuffle": ("downscale_factor",),
    "Flatten": ("start_dim", "end_dim"),
    "Unflatten": ("dim", "unflattened_size"),
    "ZeroPad2d": ("padding",),
    "BatchNorm1d": ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    "BatchNorm2d": ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    "LayerNorm": ("normalized_shape", "eps", "elementwise_affine", "bias"),
    "GroupNorm": ("num_groups", "num_channels", "eps", "affine"),
    "PReLU": ("num_parameters",),
    "LeakyReLU": ("negative_slope",), "ELU": ("alpha",), "CELU": ("alpha",), "GELU": ("approximate",),
    "Softplus": ("beta", "threshold"), "Hardtanh": ("min_val", "max_val"),
    **{kind: () for kind in ("ReLU", "ReLU6", "Sigmoid", "Tanh", "SiLU", "Mish", "SELU", "Hardsigmoid",
                             "Hardswish", "Softsign", "Tanhshrink", "Identity", "Dropout", "Dropout1d",
                             "Dropout2d", "AlphaDropout")},
}
EVAL_IDENTITY = {"Dropout", "Dropout1d", "Dropout2d", "AlphaDropout"}  # identities in eval mode, as the checks run
MAX_ACTIVATION = 4_000_000  # numbers per image in any layer's output: a described model may not exhaust the grader

# Run in the student's kernel (inside grading_probes.KERNEL_CODE, which defines `plain`).
EXPORT_CODE = r'''
    layers_known = {layers}

    def leaves(m, where):  # [(leaf, its description)] of a module, or LookupError for what the grader cannot rebuild
        if m._forward_hooks or m._forward_pre_hooks:
            raise LookupError(f"{where} has a hook")
        if type(m) is nn.Sequential:
            return [leaf for i, c in enumerate(m) for leaf in leaves(c, f"{where}[{i}]")]
        kind = type(m).__name__
        if kind not in layers_known or type(m) is not getattr(nn, kind, None):
            raise LookupError(f"{where} is a {kind}, not one of PyTorch's standard layers")
        args = {a: getattr(m, a, None) is not None if a == "bias" else plain(getattr(m, a))
                for a in layers_known[kind]}
        if kind == "PReLU":
            args["num_parameters"] = m.weight.numel()
        return [(m, {"kind": kind, "args": args, "state": {k: plain(v) for k, v in m.state_dict().items()}})]

    def export(model, x):  # the model as data: the standard layers of its encoder and decoder, or why not
        if not isinstance(model, nn.Module):
            return {"unsupported": f"the answer is a {type(model).__name__}, not an nn.Module"}
        try:
            parts = {p: leaves(getattr(model, p, None), f"model.{p}") if isinstance(getattr(model, p, None), nn.Module)
                     else None for p in ("encoder", "decoder")}
            if None in parts.values():
                return {"unsupported": "the model has no `encoder` and `decoder` modules"}
            modes = [(m, m.training) for m in model.modules()]
            model.eval()
            try:
                with torch.no_grad():
                    first = next(model.parameters(), None)
                    h = x.to(first.device, first.dtype) if first is not None else x
                    whole = model(h)
                    for m, _ in parts["encoder"] + parts["decoder"]:
                        h = m(h)
            finally:
                for m, mode in modes:
                    m.training = mode
            if not (isinstance(whole, torch.Tensor) and whole.shape == h.shape and
                    torch.allclose(whole.double(), h.double(), rtol=1e-4, atol=1e-5)):
                return {"unsupported": "model(x) is not the chain of its encoder's and decoder's layers"}
        except LookupError as err:
            return {"unsupported": str(err)}
        except Exception as err:  # the check in the kernel judges a model that does not run
            return {"unsupported": f"the model raised {type(err).__name__} on the grader's images"}
        refs = {}  # a layer used twice (weights shared) is one layer: its parameters count once, as in the check
        return {p: [dict(spec, ref=refs.setdefault(id(m), len(refs))) for m, spec in layers] for p, layers in parts.items()}
'''


class Unconfirmable(Exception):
    """The grader cannot measure this answer itself: the kernel's verdict stands, and the report says why."""


def export_code() -> str:
    """Return EXPORT_CODE with the table of layers filled in."""
    return EXPORT_CODE.replace("{layers}", repr(dict(LAYERS)))


def _plain_arg(value, where: str):
    """Return an argument as the grader passes it to a constructor: numbers, strings, None, or lists of them."""
    if isinstance(value, list):
        if len(value) > 8:
            raise ValueError(f"{where}: a list of {len(value)} values")
        return tuple(_plain_arg(v, where) for v in value)
    if value is None or isinstance(value, (bool, int, str)) and (not isinstance(value, str) or len(value) <= 20):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise ValueError(f"{where}: an argument the grader does not read ({str(value)[:40]})")


def rebuild(specs, x, what: str):
    """Return (nn.Sequential of the described layers, [(ref, layer key, parameters)] per layer); raise
    ValueError if it cannot be built.

    The layers are first built and run on the meta device (no memory), so that no description can
    ask the grader for more than MAX_ACTIVATION numbers per image in any layer.
    """
    import torch
    from torch import nn

    if not isinstance(specs, list) or not 0 < len(specs) <= 64:
        raise ValueError(f"{what}: expected a list of at most 64 layers")
    built = []
    for i, spec in enumerate(specs):
        kind = spec.get("kind") if isinstance(spec, dict) else None
        if kind not in LAYERS or not isinstance(spec.get("args"), dict) or set(spec["args"]) != set(LAYERS[kind]):
            raise ValueError(f"{what} layer {i}: not a layer the grader rebuilds ({str(kind)[:40]})")
        args = {k: _plain_arg(v, f"{what} layer {i}") for k, v in spec["args"].items()}
        ref = spec.get("ref", -1 - i)
        built.append((kind, args, spec.get("state"), ref if isinstance(ref, int) else -1 - i))
    with torch.device("meta"):
        try:
            meta = [getattr(nn, kind)(**args) for kind, args, _, _ in built]
            h = torch.empty((1, *x.shape[1:]), device="meta")
            for layer in meta:
                h = layer.eval()(h)
                if not isinstance(h, torch.Tensor) or h.numel() > MAX_ACTIVATION:
                    raise ValueError(f"{what}: a layer's output is too large to measure")
        except (TypeError, ValueError, RuntimeError, NotImplementedError) as err:
            raise ValueError(f"{what}: the layers cannot be built or chained ({str(err)[:200]})") from None
    counts = [sum(p.numel() for p in layer.parameters()) for layer in meta]
    layers, keys = [], []
    for (kind, args, state, ref), n in zip(built, counts, strict=True):
        layer = getattr(nn, kind)(**args)
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise ValueError(f"{what}: a {kind} without its weights")
        try:
            layer.load_state_dict({k: v.to(layer.state_dict()[k].dtype) if k in layer.state_dict() else v
                                   for k, v in state.items()}, strict=True)
        except RuntimeError as err:
            raise ValueError(f"{what}: a {kind}'s weights do not fit it ({str(err)[:200]})") from None
        layers.append(nn.Identity() if kind in EVAL_IDENTITY else layer)
        weights = tuple((k, str(v.dtype), tuple(v.shape), v.reshape(-1).view(torch.uint8).numpy().tobytes())
                        for k, v in sorted(state.items()))
        keys.append((ref, (kind, repr(sorted(args.items())), weights), n))
    return nn.Sequential(*layers).eval(), keys


def measure(reply, x_test, batch: int):
    """Rebuild the described model; return (code size, parameters, outputs on x_test in batches, as float64)."""
    import torch

    if not isinstance(reply, dict):
        raise ValueError("the kernel did not describe the model")
    if "unsupported" in reply:
        raise Unconfirmable(f"not rebuilt outside the kernel: {str(reply['unsupported'])[:200]}")
    encoder, keys = rebuild(reply.get("encoder"), x_test, "the encoder")
    with torch.no_grad():
        code = encoder(x_test[:2])
        decoder, more = rebuild(reply.get("decoder"), code, "the decoder")
        out = torch.cat([decoder(encoder(xb)).double() for xb in x_test.split(batch)])
    layers = {}
    for ref, key, n in keys + more:
        if layers.setdefault(ref, (key, n))[0] != key:
            raise ValueError("two different layers are described as one shared layer")
    return code[0].numel(), sum(n for _, n in layers.values()), out


# -- the probes of exercises 2.4 and 7.6 --------------------------------------------------------------


def _test_sample(images, seed: int):
    """Four of the check's test images, drawn with the grader's seed: the kernel checks its description on them."""
    import torch

    g = torch.Generator().manual_seed(seed)
    return [[images[torch.randint(0, len(images), (4,), generator=g)].clone()]]


def _limits(code: int, n_params: int, max_code: int, max_params: int) -> str | None:
    if n_params > max_params:
        return f"the rebuilt model has {n_params:,} parameters, over the budget of {max_params:,}"
    if code > max_code:
        return f"the rebuilt encoder's code has {code} numbers per image, more than {max_code}"
    return None


def _over(measured: float, target: float) -> bool:
    """Whether a measure misses its target by more than the grader's slack (0.2 %: float32 sums in another order)."""
    return not math.isfinite(measured) or measured > target * 1.002 + 1e-9


def _small_autoencoder():
    from .checks import lesson02 as m
    from .grading_references import Probe

    def judge(cases, reply):
        budget, x = m.small_ae_budget(), m._test_images()
        code, n_params, out = measure(reply, x, batch=2000)  # the check's batches: a BatchNorm may use their statistics
        why = _limits(code, n_params, budget["code"], budget["params"])
        if why or out.numel() != x.numel():
            return why or f"the rebuilt model returned shape {tuple(out.shape)} for images of shape {tuple(x.shape)}"
        out = out.reshape(x.shape)
        if out.min() < -1e-5 or out.max() > 1 + 1e-5:
            return f"the rebuilt model's outputs range from {out.min():.3g} to {out.max():.3g}, outside [0, 1]"
        error = ((out - x.double()) ** 2).sum(dim=1).mean().item()
        if _over(error, budget["target"]):
            return f"the rebuilt model measures {error:.2f} squared error per test image, above the target {budget['target']:g}"
        return None
    return Probe(lambda seed: _test_sample(m._test_images(), seed), judge)


def _param_budget():
    import torch.nn.functional as F

    from .checks import lesson07 as m
    from .grading_references import Probe

    def judge(cases, reply):
        (_, target), x = m._budget_target(), m._budget_test_images()
        code, n_params, out = measure(reply, x, batch=250)
        why = _limits(code, n_params, m.BUDGET_CODE, m.BUDGET_PARAMS)
        if why or out.shape != x.shape:
            return why or f"the rebuilt model returned shape {tuple(out.shape)} for images of shape {tuple(x.shape)}"
        bce = F.binary_cross_entropy_with_logits(out, x.double(), reduction="sum").item() / x.numel()
        return f"the rebuilt model measures a test BCE per pixel of {bce:.4f}, above the target {target}" \
            if _over(bce, target) else None
    return Probe(lambda seed: _test_sample(m._budget_test_images(), seed), judge)


MODEL_PROBED = {"check_small_autoencoder": _small_autoencoder, "check_param_budget": _param_budget}
