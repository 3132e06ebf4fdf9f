"""Checks for exercises 07 (convolutional): output sizes, and the encoder and decoder layer by layer.

The output sizes are compared with what torch's own convolutions produce (F.conv1d and
F.conv_transpose1d on a tensor of zeros) over many settings. The encoder and decoder are run one
layer at a time, so that a wrong shape is reported at the layer where it first appears; then
their parameter counts are compared with a reference built here.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .core import call, fail, passed

__all__ = ["check_conv_output_size", "check_conv_transpose_output_size", "check_conv_encoder", "check_conv_decoder"]  # what aecourse.checks exports from here

# ---------------------------------------------------------------- output sizes


def _conv_reference(n: int, k: int, s: int, p: int, d: int) -> int:
    """Return the length that F.conv1d gives for an input of length n."""
    return F.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s, padding=p, dilation=d).shape[-1]


def _transpose_reference(n: int, k: int, s: int, p: int, op: int, d: int) -> int:
    """Return the length that F.conv_transpose1d gives for an input of length n."""
    return F.conv_transpose1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s, padding=p,
                              output_padding=op, dilation=d).shape[-1]


def _conv_settings(seed: int) -> list[tuple[int, int, int, int, int]]:
    """Return (n, kernel, stride, padding, dilation) settings for which a convolution is defined."""
    grid = itertools.product([1, 4, 5, 7, 14, 28, 31], [1, 2, 3, 4, 5], [1, 2, 3], [0, 1, 2], [1, 2, 3])
    settings = [c for c in grid if c[0] + 2 * c[3] >= c[4] * (c[1] - 1) + 1 and c[3] <= c[1] // 2 * c[4]]
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(settings) - 2, generator=g).tolist()
    return settings[:2] + [settings[2 + i] for i in order]  # the two simplest first, then a shuffle


def _transpose_settings(seed: int) -> list[tuple[int, int, int, int, int, int]]:
    """Return (n, kernel, stride, padding, output_padding, dilation) settings torch accepts."""
    grid = itertools.product([1, 4, 7, 14], [1, 2, 3, 4, 5], [1, 2, 3], [0, 1, 2], [0, 1, 2], [1, 2])
    settings = [c for c in grid if c[4] < max(c[2], c[5]) and (c[0] - 1) * c[2] - 2 * c[3]
                + c[5] * (c[1] - 1) + c[4] + 1 >= 1]
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(settings) - 2, generator=g).tolist()
    return settings[:2] + [settings[2 + i] for i in order]


def _as_number(name: str, value, call_text: str):
    """Return value as an int, or as a float if it is one (judged later); fail on anything else."""
    if isinstance(value, bool) or value is None:
        fail(name, f"{call_text} returned {value!r}; return the output size, an int")
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            fail(name, f"{call_text} returned a tensor of shape {tuple(value.shape)}; return one int")
        value = value.item()
    if isinstance(value, float):
        return value
    try:
        return int(value.__index__())
    except (AttributeError, TypeError):
        fail(name, f"{call_text} returned {type(value).__name__}; return the output size, an int")


def _plainness(setting: tuple) -> tuple:
    """Order settings from plain (no dilation, no padding, stride 1, kernel 3, large n) to unusual."""
    n, k, s = setting[:3]
    return (setting[-1], *setting[3:-1][::-1], s, abs(k - 3), -n)


def _size_check(name: str, fn: Callable, settings: list, arg_names: tuple, reference: Callable,
                mistakes: list, what: str) -> int:
    """Call fn on every setting; on the first disagreement with reference, name the mistake it matches."""
    got = []
    for setting in settings:
        args = dict(zip(arg_names, setting, strict=True))
        text = f"{name}({', '.join(f'{k}={v}' for k, v in args.items())})"
        got.append((setting, text, _as_number(name, call(name, fn, **args), text)))
    wrong = sorted(((s, text, out) for s, text, out in got if out != reference(*s)),
                   key=lambda w: _plainness(w[0]))  # show the plainest wrong setting
    floats = [(text, out) for _, text, out in sorted(got, key=lambda g: _plainness(g[0]))
              if isinstance(out, float)]
    if not wrong and floats:
        text, out = floats[0]
        fail(name, f"{text} returned {out!r}, a float; the size of a tensor is an int: use integer "
                   "division // (it rounds down) instead of /, or wrap the result in int()")
    if not wrong:
        return len(settings)
    for message, formula in mistakes:
        if all(out == formula(*s) for s, _, out in got):
            setting, text, out = wrong[0]
            fail(name, f"{message} (e.g. {text} returned {out}, {what} gives {reference(*setting)})")
    setting, text, out = wrong[0]
    if isinstance(out, float):
        fail(name, f"{text} returned {out!r}; a size is a whole number: the window fits floor(...) "
                   f"times, so round down with // ({what} gives {reference(*setting)})")
    fail(name, f"{text} returned {out}, {what} gives {reference(*setting)} "
               f"({len(wrong)} of {len(settings)} settings are wrong)")
    return 0


def check_conv_output_size(fn, seed: int = 0) -> None:
    """Check conv_output_size(n, kernel, stride, padding, dilation) against F.conv1d (lesson 07)."""
    name = getattr(fn, "__name__", "conv_output_size")
    span = lambda k, d: d * (k - 1)  # noqa: E731 (the dilated kernel covers span + 1 pixels)
    mistakes = [
        ("divided with / and kept the fraction: the window fits a whole number of times; round down with "
         "integer division //", lambda n, k, s, p, d: (n + 2 * p - span(k, d) - 1) / s + 1),
        ("rounded up (or to the nearest): a window that would stick out past the padding is not computed, "
         "so round down with //", lambda n, k, s, p, d: math.ceil((n + 2 * p - span(k, d) - 1) / s) + 1),
        ("rounded to the nearest: a window that would stick out past the padding is not computed, "
         "so round down with //", lambda n, k, s, p, d: round((n + 2 * p - span(k, d) - 1) / s) + 1),
        ("forgot the + 1: the first window sits at position 0, and (n + 2p − d(k − 1) − 1) // s counts only "
         "the steps after it", lambda n, k, s, p, d: (n + 2 * p - span(k, d) - 1) // s),
        ("counted the padding once: padding is added on both sides, so the padded length is n + 2·padding",
         lambda n, k, s, p, d: (n + p - span(k, d) - 1) // s + 1),
        ("ignored the dilation: a kernel of size k with dilation d spans d·(k − 1) + 1 pixels",
         lambda n, k, s, p, d: (n + 2 * p - k) // s + 1),
        ("took the dilated kernel to span d·k pixels; it spans d·(k − 1) + 1 (k taps, d − 1 gaps between "
         "neighbours)", lambda n, k, s, p, d: (n + 2 * p - d * k) // s + 1),
        ("left out the − 1 inside the floor: it is floor((n + 2p − d(k − 1) − 1) / s) + 1",
         lambda n, k, s, p, d: (n + 2 * p - span(k, d)) // s + 1),
        ("divided the + 1 by the stride too: it is floor((n + 2p − d(k − 1) − 1) / s) + 1, the + 1 outside",
         lambda n, k, s, p, d: (n + 2 * p - span(k, d) - 1 + 1) // s),
        ("ignored the stride: a stride s moves the window s pixels at a time, so divide by s",
         lambda n, k, s, p, d: n + 2 * p - span(k, d)),
    ]
    count = _size_check(name, fn, _conv_settings(seed), ("n", "kernel", "stride", "padding", "dilation"),
                        _conv_reference, mistakes, "F.conv1d")
    passed(name, f"agrees with torch's convolution on all {count} settings of size, kernel, stride, "
                 f"padding and dilation (seed {seed})")


def check_conv_transpose_output_size(fn, seed: int = 0) -> None:
    """Check conv_transpose_output_size(n, kernel, stride, padding, output_padding, dilation) (lesson 07)."""
    name = getattr(fn, "__name__", "conv_transpose_output_size")
    span = lambda k, d: d * (k - 1)  # noqa: E731
    mistakes = [
        ("multiplied n by the stride; the first and the last of n inputs placed s pixels apart "
         "are (n − 1)·s pixels apart, so the formula starts with (n − 1)·s", lambda n, k, s, p, op, d: n * s - 2 * p + span(k, d) + op + 1),
        ("left out the output_padding: it adds output_padding rows at the end",
         lambda n, k, s, p, op, d: (n - 1) * s - 2 * p + span(k, d) + 1),
        ("subtracted the padding once: a transposed convolution crops `padding` pixels from both ends, "
         "so subtract 2·padding", lambda n, k, s, p, op, d: (n - 1) * s - p + span(k, d) + op + 1),
        ("added the padding: a transposed convolution undoes a convolution's padding, so it crops "
         "2·padding pixels (− 2·padding)", lambda n, k, s, p, op, d: (n - 1) * s + 2 * p + span(k, d) + op + 1),
        ("ignored the dilation: the kernel spans d·(k − 1) + 1 pixels",
         lambda n, k, s, p, op, d: (n - 1) * s - 2 * p + (k - 1) + op + 1),
        ("forgot the + 1: it is (n − 1)·s − 2p + d·(k − 1) + output_padding + 1",
         lambda n, k, s, p, op, d: (n - 1) * s - 2 * p + span(k, d) + op),
        ("used the formula of an ordinary convolution; a transposed convolution goes the other way: "
         "(n − 1)·s − 2p + d·(k − 1) + output_padding + 1",
         lambda n, k, s, p, op, d: (n + 2 * p - span(k, d) - 1) // s + 1),
    ]
    count = _size_check(name, fn, _transpose_settings(seed),
                        ("n", "kernel", "stride", "padding", "output_padding", "dilation"),
                        _transpose_reference, mistakes, "F.conv_transpose1d")
    passed(name, f"agrees with torch's transposed convolution on all {count} settings (seed {seed})")


# ---------------------------------------------------------------- encoder and decoder, layer by layer


def _encoder_plan(channels) -> list[tuple[nn.Module, str]]:
    """Return the reference encoder's layers, each with the stage it belongs to."""
    plan, c_in = [], 1
    for i, c in enumerate(channels, start=1):
        where = f"stage {i}"
        plan += [(nn.Conv2d(c_in, c, 3, padding=1), where), (nn.ReLU(), where),
                 (nn.MaxPool2d(2, ceil_mode=True), where)]
        c_in = c
    return plan


def _decoder_plan(channels) -> list[tuple[nn.Module, str]]:
    """Return the reference decoder's layers (the encoder mirrored, ending in logits)."""
    c1, c2, c3 = channels
    return [(nn.Conv2d(c3, c3, 3, padding=1), "stage 1"), (nn.ReLU(), "stage 1"),
            (nn.Upsample(scale_factor=2), "stage 1"),
            (nn.Conv2d(c3, c2, 3, padding=1), "stage 2"), (nn.ReLU(), "stage 2"),
            (nn.Upsample(scale_factor=2), "stage 2"),
            (nn.Conv2d(c2, c1, 3), "stage 3"), (nn.ReLU(), "stage 3"), (nn.Upsample(scale_factor=2), "stage 3"),
            (nn.Conv2d(c1, 1, 3, padding=1), "output")]


def _leaves(name: str, part: str, module) -> list[nn.Module]:
    """Return the layers of an nn.Sequential (nested ones flattened) in the order they run."""
    if isinstance(module, (list, tuple)):
        fail(name, f"returned a Python {type(module).__name__}; wrap the layers in nn.Sequential(*layers) "
                   "so that PyTorch registers their parameters")
    if not isinstance(module, nn.Sequential):
        fail(name, f"returned {type(module).__name__}; return the {part} as an nn.Sequential (nested "
                   "nn.Sequential blocks are fine), so that the check can follow the shapes layer by layer")
    out = []
    for child in module:
        out += _leaves(name, part, child) if isinstance(child, nn.Sequential) else [child]
    return out


def _kind(layer: nn.Module) -> str:
    return type(layer).__name__


def _shape(t: torch.Tensor) -> str:
    return "(N, " + ", ".join(map(str, t.shape[1:])) + ")"


def _hint(layer: nn.Module, got: torch.Tensor, want: torch.Tensor, ref: nn.Module) -> str:
    """Return why this layer's output has the wrong shape, where a reason can be named."""
    if got.shape[1] != want.shape[1]:
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            return (f" It gives {got.shape[1]} channels, expected {want.shape[1]}: its out_channels "
                    f"should be {ref.out_channels}.")
        return ""
    if isinstance(layer, nn.Conv2d):
        if layer.stride != (1, 1):
            return (" Keep the convolution's stride at 1: the pooling (or upsampling) after it changes "
                    "the size.")
        if got.shape[-1] < want.shape[-1] and ref.padding == (1, 1):
            return (" A 3×3 convolution without padding shrinks each side by 2; padding=1 keeps the size.")
        if got.shape[-1] > want.shape[-1] and ref.padding == (0, 0):
            return (" This convolution takes no padding (padding=0, the default), so that 16 × 16 shrinks to "
                    "14 × 14 and the last upsampling gives 28 × 28.")
    if isinstance(layer, nn.MaxPool2d) and got.shape[-1] < want.shape[-1]:
        return (" MaxPool2d(2) rounds down, so 7 × 7 becomes 3 × 3; ceil_mode=True keeps the last, "
                "incomplete window (as Keras's padding='same' does), so that 7 × 7 becomes 4 × 4.")
    if isinstance(layer, nn.Upsample) and got.shape[-1] != want.shape[-1]:
        return " Each nn.Upsample doubles the size: nn.Upsample(scale_factor=2)."
    return ""


def _type_problem(part: str, got: list[str], want: list[str], where: str) -> str:
    """Return one sentence on how the layer types `got` differ from `want`."""
    shown = ", ".join(got)
    if len(got) > len(want) and got[:len(want)] == want:
        extra = ", ".join(got[len(want):])
        if extra == "Sigmoid":
            return (f"the {part} ends with a Sigmoid; return logits (no activation after the last "
                    "convolution): the loss applies the sigmoid itself, with BCE with logits")
        return f"the {part} has extra layers at its end ({extra}); it should end with {want[-1]}"
    if part == "encoder" and got.count("Conv2d") == want.count("Conv2d") and "MaxPool2d" not in got:
        return ("the encoder has no MaxPool2d; halve the size after each ReLU with nn.MaxPool2d(2, ceil_mode=True) "
                "rather than with a strided convolution")
    if got.count("ReLU") < want.count("ReLU"):
        return (f"the {part} has {got.count('ReLU')} ReLUs, expected {want.count('ReLU')}: one after every "
                f"convolution{' but the last (logits)' if part == 'decoder' else ''}; without them "
                "stacked convolutions collapse into one linear map")
    return f"the {part}'s layers are {shown}; expected {', '.join(want)} ({where})"


def _trace(name: str, part: str, module, plan, x: torch.Tensor, channels) -> None:
    """Run the answer's layers one by one next to the reference's; fail at the first difference."""
    layers = _leaves(name, part, module)
    got_kinds, want_kinds = [_kind(m) for m in layers], [_kind(m) for m, _ in plan]
    h_got, h_want = x, x
    for i, (layer, (ref, where)) in enumerate(zip(layers, plan, strict=False), start=1):
        if _kind(layer) != _kind(ref):
            break
        label = f"layer {i} of the {part}, {layer!r} ({where})"
        try:
            with torch.no_grad():
                h_next = layer(h_got)
        except Exception as err:
            in_ch = f" Its in_channels should be {ref.in_channels}." if hasattr(ref, "in_channels") else ""
            fail(name, f"{label} fails on an input of shape {_shape(h_got)}: {type(err).__name__}: "
                       f"{str(err).splitlines()[0]}.{in_ch} (channels={tuple(channels)})", err)
        with torch.no_grad():
            h_want = ref(h_want)
        if h_next.shape != h_want.shape:
            fail(name, f"{label} outputs {_shape(h_next)}, expected {_shape(h_want)}."
                       f"{_hint(layer, h_next, h_want, ref)} (channels={tuple(channels)})")
        h_got = h_next
    if got_kinds != want_kinds:
        fail(name, f"{_type_problem(part, got_kinds, want_kinds, f'channels={tuple(channels)}')}")


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _params(name: str, part: str, module: nn.Module, plan, channels) -> None:
    got, want = _count(module), sum(_count(m) for m, _ in plan)
    if got == want:
        return
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    biases = sum(m.out_channels for m, _ in plan if isinstance(m, nn.Conv2d))
    if any(m.bias is None for m in convs) and want - got == sum(m.out_channels for m in convs if m.bias is None):
        fail(name, f"the {part} has {got:,} parameters, expected {want:,}: {want - got} biases are missing; "
                   "keep bias=True (the default) in every nn.Conv2d")
    sizes = sorted({m.kernel_size for m in convs})
    if sizes != [(3, 3)]:
        fail(name, f"the {part} has {got:,} parameters, expected {want:,}: its convolutions have kernel sizes "
                   f"{', '.join(f'{a}×{b}' for a, b in sizes)}; use 3×3 kernels (kernel_size=3)")
    fail(name, f"the {part} has {got:,} parameters, expected {want:,} (3×3 kernels and {biases} biases, "
               f"channels={tuple(channels)}); compare each layer's channels and kernel size with the table")


def _channels(name: str, channels) -> tuple[int, int, int]:
    channels = tuple(channels)
    if len(channels) != 3 or not all(isinstance(c, int) and c > 0 for c in channels):
        raise ValueError(f"{name}: channels must be three positive ints, got {channels!r}")
    return channels


def check_conv_encoder(fn, channels=(16, 8, 8), batch: int = 2, seed: int = 0) -> None:
    """Check build_encoder(channels): three stages of 3×3 conv, ReLU, 2×2 max pooling, 28 → 4 (lesson 07)."""
    name = getattr(fn, "__name__", "build_encoder")
    channels = _channels(name, channels)
    module = call(name, fn, channels=channels)
    plan = _encoder_plan(channels)
    x = torch.rand(batch, 1, 28, 28, generator=torch.Generator().manual_seed(seed))
    _trace(name, "encoder", module, plan, x, channels)
    _params(name, "encoder", module, plan, channels)
    with torch.no_grad():
        z = module(x)
    c3 = channels[-1]
    passed(name, f"(N, 1, 28, 28) → (N, {channels[0]}, 14, 14) → (N, {channels[1]}, 7, 7) → "
                 f"{_shape(z)}, a code of {c3 * 16} numbers; {_count(module):,} parameters")


def check_conv_decoder(fn, channels=(16, 8, 8), batch: int = 2, seed: int = 0) -> None:
    """Check build_decoder(channels): the encoder mirrored with upsampling, 4 → 28, ending in logits (lesson 07)."""
    name = getattr(fn, "__name__", "build_decoder")
    channels = _channels(name, channels)
    module = call(name, fn, channels=channels)
    plan = _decoder_plan(channels)
    z = torch.randn(batch, channels[-1], 4, 4, generator=torch.Generator().manual_seed(seed)).relu()
    _trace(name, "decoder", module, plan, z, channels)
    _params(name, "decoder", module, plan, channels)
    c1, c2, c3 = channels
    passed(name, f"(N, {c3}, 4, 4) → (N, {c3}, 8, 8) → (N, {c2}, 16, 16) → (N, {c1}, 28, 28) → "
                 f"(N, 1, 28, 28) logits; "
                 f"{_count(module):,} parameters")
