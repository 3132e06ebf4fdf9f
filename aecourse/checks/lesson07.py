"""Checks for exercises 07 (convolutional): the decoder layer by layer, the receptive field, the taps of a
transposed convolution, two predictions and the parameter-budget experiment.

The receptive field is compared with what autograd finds (the inputs that one output unit's gradient
reaches), the tap counts with F.conv_transpose1d on ones, the decoder with a reference built here.
Messages name a mistake only when the answer matches it, and never print a reference formula.
"""

from __future__ import annotations

import functools
import math
import types
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .core import call, check_choice, close, fail, passed, require_answer

__all__ = ["check_conv_decoder", "check_receptive_field", "check_tap_counts", "check_prediction_7_4",
           "check_prediction_7_5", "check_param_budget"]  # what aecourse.checks exports from here


def _as_int(name: str, value, call_text: str, what: str = "a size in pixels") -> int:
    """Return value as an int if it is a whole number (int, integral float, one-element tensor); else fail."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if hasattr(value, "item") and not isinstance(value, (int, float)):  # a NumPy scalar
        try:
            value = value.item()
        except Exception:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(name, f"{call_text} returned {type(value).__name__} {value!r}; return a whole number (an int)")
    if not math.isfinite(value) or value != int(value):
        fail(name, f"{call_text} returned {value!r}, not a whole number: {what} is an int")
    return int(value)


# ---------------------------------------------------------------- 7.2 the receptive field


def _receptive_field_reference(layers: list[tuple[int, int]]) -> int:
    """Return how many inputs one output unit of a chain of 1-D windows depends on, found by autograd."""
    n = 1
    for k, s in reversed(layers):  # an input long enough for at least one output unit
        n = (n - 1) * s + k
    n += 4 * math.prod(s for _, s in layers)
    x = torch.ones(1, 1, n, dtype=torch.float64, requires_grad=True)
    h = x
    for k, s in layers:
        h = F.conv1d(h, torch.ones(1, 1, k, dtype=torch.float64), stride=s)  # every tap counts
    h[0, 0, 1].backward()
    return int((x.grad != 0).sum())


def _rf_mistakes(layers) -> list[tuple[str, int]]:
    def forward(update):
        r, j = 1, 1
        for k, s in layers:
            r, j = update(r, j, k, s)
        return r

    backward_in_forward_order = 1
    for k, s in layers:
        backward_in_forward_order = (backward_in_forward_order - 1) * s + k
    return [
        ("ignored the strides: after a layer of stride s, one step of the next layer spans s inputs, "
         "so the growth of later layers is multiplied by the product of the earlier strides",
         forward(lambda r, j, k, s: (r + (k - 1), j))),
        ("counted each layer's own stride in its growth: a layer's kernel spreads over the spacing "
         "made by the strides BEFORE it, not including its own",
         forward(lambda r, j, k, s: (r + (k - 1) * j * s, j * s))),
        ("applied the output-to-input recursion (r ← (r − 1)·s + k) from the first layer on; it walks from "
         "the output unit back to the input, so it starts at the last layer", backward_in_forward_order),
        ("multiplied the kernel sizes: windows of successive layers overlap, they do not multiply",
         math.prod(k for k, _ in layers)),
        ("added the kernel sizes: successive windows overlap by all but (k − 1) of their inputs, and the "
         "strides spread them", sum(k for k, _ in layers)),
        ("left out the 1 you start from (one output unit sees one position before any layer)",
         forward(lambda r, j, k, s: (r + (k - 1) * j, j * s)) - 1),
        ("multiplied each layer's growth by its own stride alone; it is multiplied by the spacing made by the "
         "strides of ALL the layers before it (their product)", 1 + sum((k - 1) * s for k, s in layers)),
        ("took as the spacing only the stride of the layer just before; the spacing is the product of the "
         "strides of ALL the earlier layers", forward(lambda r, j, k, s: (r + (k - 1) * j, s))),
        ("left out the − 1 of the output-to-input recursion (r ← (r − 1)·s + k): r output positions of a "
         "layer span (r − 1)·s + k of its inputs", functools.reduce(lambda r, ks: r * ks[1] + ks[0], reversed(layers), 1)),
        ("returned the product of the strides (the spacing of neighbouring output units), not the field",
         math.prod(s for _, s in layers)),
        ("returned the area (the field squared); the task asks for one side, in inputs",
         forward(lambda r, j, k, s: (r + (k - 1) * j, j * s)) ** 2),
    ]


RF_SETTINGS = [
    [(3, 1), (2, 2), (5, 3), (3, 2), (2, 1)],
    [(3, 1), (2, 2), (3, 1), (2, 2), (3, 1), (2, 2)],  # lesson 07's encoder (pooling rounds up: same field)
    [(7, 2), (3, 2), (3, 1)],
    [(5, 1)],
    [(2, 2), (2, 2), (2, 2), (2, 2)],
    [(4, 3), (1, 1), (3, 2)],
]


def check_receptive_field(fn, seed: int = 0) -> None:
    """Check receptive_field(layers): inputs per side that one output unit sees, for (kernel, stride) layers (lesson 07)."""
    name = getattr(fn, "__name__", "receptive_field")
    cases = {0: RF_SETTINGS[:3], 1: RF_SETTINGS[:1] + RF_SETTINGS[3:]}.get(seed, RF_SETTINGS)
    for layers in cases:
        text = f"{name}({layers})"
        got = _as_int(name, call(name, fn, layers=list(layers)), text)
        want = _receptive_field_reference(layers)
        if got == want:
            continue
        mistakes = _rf_mistakes(layers)
        values = [v for _, v in mistakes]
        for message, value in mistakes:
            if value != want and got == value and values.count(value) == 1:  # an ambiguous match names nothing
                fail(name, f"{message} (seen for {text}: {got}, expected {want})")
        fail(name, f"{text} returned {got}, expected {want} (autograd: one output unit's gradient reaches "
                   f"{want} consecutive inputs)")
    lesson = _receptive_field_reference(RF_SETTINGS[1])
    passed(name, f"agrees with autograd on {len(cases)} stacks of layers; a code unit of lesson 07's "
                 f"encoder sees {lesson} × {lesson} pixels (seed {seed})")


# ---------------------------------------------------------------- 7.3 the taps of a transposed convolution

TAPS_BANNED = ("called a transposed convolution (F.conv_transpose1d, conv_transpose2d or nn.ConvTranspose*, "
               "under some name): this exercise asks you to count the taps yourself; the check compares your "
               "counts with F.conv_transpose1d on ones")
_BANNED_TRANSPOSED = [(F, "conv_transpose1d"), (F, "conv_transpose2d"), (F, "conv_transpose3d"),
                      (torch, "conv_transpose1d"), (torch, "conv_transpose2d"), (torch, "conv_transpose3d")]


def _tap_reference(n: int, k: int, s: int, p: int) -> torch.Tensor:
    return F.conv_transpose1d(torch.ones(1, 1, n, dtype=torch.float64), torch.ones(1, 1, k, dtype=torch.float64),
                              stride=s, padding=p)[0, 0]


def _uncropped(n: int, k: int, s: int) -> torch.Tensor:
    return _tap_reference(n, k, s, 0)


class _Banned(Exception):
    """Raised inside a probe when the answer calls the library function the exercise asks it to replace."""


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _uses_banned(fn: Callable) -> bool:
    """Return whether fn's code refers, by a global or closure name, to a banned function or class."""
    banned = {id(getattr(owner, attr)) for owner, attr in _BANNED_TRANSPOSED}
    banned |= {id(nn.ConvTranspose1d), id(nn.ConvTranspose2d), id(nn.ConvTranspose3d)}
    code = getattr(fn, "__code__", None)
    if code is None:
        return False
    globals_ = getattr(fn, "__globals__", {})
    values = [globals_.get(n) for n in _code_names(code)]
    values += [c.cell_contents for c in (getattr(fn, "__closure__", None) or ()) if _cell_ok(c)]
    return any(id(v) in banned for v in values)


def _cell_ok(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018
        return True
    except ValueError:
        return False


def _probe_banned(name: str, fn: Callable, args: dict) -> None:
    if _uses_banned(fn):
        fail(name, TAPS_BANNED)
    saved = [(owner, attr, getattr(owner, attr)) for owner, attr in _BANNED_TRANSPOSED]

    def trap(*_, **__):
        raise _Banned

    try:
        for owner, attr, _ in saved:
            setattr(owner, attr, trap)
        fn(*args.values())
    except _Banned:
        fail(name, TAPS_BANNED)
    except Exception:
        pass  # core.call reports it
    finally:
        for owner, attr, value in saved:
            setattr(owner, attr, value)


TAP_SETTINGS = {  # the first setting of each list tells every listed mistake apart (padding >= 2)
    0: [(6, 7, 3, 2), (5, 5, 2, 1), (4, 3, 2, 0), (4, 4, 2, 1)],
    1: [(5, 7, 4, 2), (3, 2, 2, 0), (6, 5, 3, 0), (8, 3, 1, 1)],
    2: [(7, 7, 3, 2), (5, 6, 4, 2), (6, 3, 2, 1), (5, 5, 2, 0)],
}


def _taps_as_tensor(name: str, out, text: str) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        kind = {"list": "a Python list", "tuple": "a Python tuple", "ndarray": "a NumPy array"}.get(
            type(out).__name__, type(out).__name__)
        fail(name, f"{text} returned {kind}; return a 1-D torch.Tensor of counts, one per output pixel (for "
                   "example `torch.tensor(counts)`): the check cell goes on to call `.tolist()` on it")
    if out.dtype == torch.bool or out.is_complex():
        fail(name, f"{text} returned a tensor of {str(out.dtype).removeprefix('torch.')}; return the counts as "
                   "whole numbers (an integer tensor such as torch.long, or floats)")
    if out.dim() != 1:
        fail(name, f"{text} returned shape {tuple(out.shape)}; return a 1-D tensor, one count per output pixel")
    return out.detach().double()


def _tap_mistakes(n: int, k: int, s: int, p: int, length: int) -> list[tuple[str, torch.Tensor | None]]:
    full = _uncropped(n, k, s)
    ref = _tap_reference(n, k, s, p)
    size = len(full)
    longer = torch.cat([full, torch.zeros(s, dtype=torch.float64)])
    return [
        ("did not crop the padding: `padding` removes that many output pixels from EACH end", full),
        ("cropped the padding from the start only; it is cropped from both ends", full[p:]),
        ("cropped the padding from the end only; it is cropped from both ends", full[:size - p]),
        ("cropped 2·padding pixels from the start; padding pixels come off each end",
         full[2 * p:] if p else None),
        ("cropped padding − 1 pixels from each end, one too few: `padding` removes exactly that many",
         full[p - 1:size - p + 1] if p else None),
        ("cropped padding + 1 pixels from each end, one too many: `padding` removes exactly that many",
         full[p + 1:size - p - 1]),
        ("swapped the roles of kernel and stride", _tap_reference(n, s, k, p) if p < s else None),
        (f"gave every pixel k / s = {k / s:g} taps (the interior average); the count varies with the position "
         "(its phase) and falls off at the borders", torch.full((length,), k / s, dtype=torch.float64)),
        (f"gave every pixel ceil(k / s) = {math.ceil(k / s)} taps; pixels of some phases get fewer, and "
         "the borders fewer still", torch.full((length,), float(math.ceil(k / s)), dtype=torch.float64)),
        (f"gave every pixel floor(k / s) = {k // s} taps; pixels of some phases get more, and the borders fewer",
         torch.full((length,), float(k // s), dtype=torch.float64)),
        ("counted the taps without the border effect (the interior pattern repeated to the ends): near the "
         "ends fewer input pixels paint",
         torch.tensor([float(sum(1 for u in range(k) if (t + p - u) % s == 0)) for t in range(length)],
                      dtype=torch.float64)),
        ("made the uncropped output n·s + k pixels long (zeros at its end); the last input pixel's copy starts "
         "at s·(n − 1), so it is (n − 1)·s + k long", longer[p:len(longer) - p]),
    ] + ([("returned 1 where a pixel gets no tap: count 0 there", ref.clamp(min=1))] if (ref == 0).any() else [])


def check_tap_counts(fn, seed: int = 0) -> None:
    """Check tap_counts(n, kernel, stride, padding): kernel taps per output pixel of a transposed convolution (lesson 07)."""
    name = getattr(fn, "__name__", "tap_counts")
    settings = TAP_SETTINGS.get(seed, TAP_SETTINGS[0] + TAP_SETTINGS[1] + TAP_SETTINGS[2])
    _probe_banned(name, fn, {"n": 5, "kernel": 5, "stride": 2, "padding": 1})
    for n, k, s, p in settings:
        text = f"{name}(n={n}, kernel={k}, stride={s}, padding={p})"
        out = _taps_as_tensor(name, call(name, fn, n=n, kernel=k, stride=s, padding=p), text)
        ref = _tap_reference(n, k, s, p)
        if out.shape == ref.shape and torch.equal(out, ref):
            continue
        if out.numel() == 0 and p == 0:
            again = call(name, fn, n=n, kernel=k, stride=s, padding=1)
            if isinstance(again, torch.Tensor) and close(again.detach(), _tap_reference(n, k, s, 1), 0, 0):
                fail(name, f"{text} returned no counts, yet the right ones for padding=1: a crop written "
                           "`counts[p:-p]` is empty for p = 0 (−0 is 0, so it ends at the start); end the "
                           "crop at len(counts) − p")
        mistakes = [(m, v) for m, v in _tap_mistakes(n, k, s, p, len(ref))
                    if v is not None and not (v.shape == ref.shape and torch.equal(v, ref))]
        matches = [m for m, v in mistakes if v.shape == out.shape and torch.allclose(out, v)]
        if len(matches) == 1:  # two mistakes that give the same counts here name neither
            fail(name, f"{matches[0]} (seen for {text})")
        if out.shape != ref.shape:
            fail(name, f"{text} returned {len(out)} counts; the transposed convolution's output has "
                       f"{len(ref)} pixels (expected {ref.int().tolist()}, got "
                       f"{[round(v, 3) for v in out.tolist()]})")
        i = int((out != ref).nonzero()[0])
        fail(name, f"{text}: output pixel {i} gets {ref[i]:g} taps, you counted {out[i]:g} (all counts: "
                   f"expected {ref.int().tolist()}, got {[round(v, 3) for v in out.tolist()]})")
    passed(name, f"agrees with F.conv_transpose1d on ones for {len(settings)} settings (seed {seed})")


# ---------------------------------------------------------------- 7.1 the decoder, layer by layer


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
        if isinstance(child, nn.Sequential):
            out += _leaves(name, part, child)
        elif not isinstance(child, nn.Identity):  # an Identity changes nothing: it is not a layer to compare
            out.append(child)
    return out


def _kind(layer: nn.Module) -> str:
    """Return the layer's kind; subclasses count as their base (nn.UpsamplingNearest2d is an nn.Upsample)."""
    for base in (nn.Upsample, nn.ReLU, nn.Conv2d, nn.ConvTranspose2d, nn.MaxPool2d, nn.Sigmoid):
        if isinstance(layer, base):
            return base.__name__
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
    if "ConvTranspose2d" in got and "ConvTranspose2d" not in want:
        return (f"the {part} uses transposed convolutions (ConvTranspose2d); this {part} enlarges with "
                "nn.Upsample and then convolves with nn.Conv2d, as in the table")
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


# ---------------------------------------------------------------- 7.4 predict: a kernel of 2 with stride 2

WHY_7_4 = {
    "A": "no two copies overlap, so every output pixel gets exactly one tap, but not the SAME tap: pixel "
         "(2i + u, 2j + v) gets weight w[u, v], so a constant input comes out as the 2 × 2 kernel tiled",
    "B": "every input pixel paints the same 2 × 2 kernel next to its neighbour's, without overlap: a constant "
         "input comes out as the kernel tiled, a pattern of period 2 unless all four weights (summed over the "
         "input channels) happen to be equal",
    "C": "each copy is 2 pixels wide and the copies sit 2 pixels apart, so the pattern repeats every 2 pixels, "
         "not every 4",
    "D": "with kernel 2, stride 2 and no padding, the border pixels are painted by one copy like all the others; "
         "the pattern is the same at the border as inside",
}


def check_prediction_7_4(answer) -> None:
    """Grade prediction 7.4: what ConvTranspose2d(kernel 2, stride 2) at initialisation makes of a constant input (lesson 07)."""
    check_choice("prediction_7_4", answer, "B", WHY_7_4)


# ---------------------------------------------------------------- 7.5 predict: a transposed layer's parameters

PARAMS_7_5 = (16, 8, 3)  # in_channels, out_channels, kernel of nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1)


def check_prediction_7_5(answer) -> None:
    """Grade prediction 7.5: the number of parameters of nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1) (lesson 07)."""
    name = "prediction_7_5"
    require_answer(name, answer, "prediction_7_5 to a whole number")
    if isinstance(answer, str):
        try:
            answer = float(answer.replace(",", "").replace("_", "").strip())
        except ValueError:
            fail(name, f"expected a whole number, got {answer!r}")
    got = _as_int(name, answer, "your prediction", "a number of parameters")
    c_in, c_out, k = PARAMS_7_5
    weights = c_in * c_out * k * k
    right = weights + c_out
    known = {
        weights: "left out the biases: a ConvTranspose2d has bias=True by default, one per output channel",
        weights + c_in: "counted one bias per input channel; a layer adds one bias per OUTPUT channel (8 here)",
        weights * 4 + c_out: "multiplied by the stride squared: stride, padding and output_padding change where "
                             "the copies go, not how many weights there are",
        weights * 2 + c_out: "multiplied by the stride: stride, padding and output_padding change where the "
                             "copies go, not how many weights there are",
        c_in * c_out * k + c_out: "counted k weights per channel pair; the kernel is k × k",
        c_in * c_out + c_out: "left out the kernel's k × k taps: each pair of channels has a k × k kernel",
        c_in * k * k + c_out: "gave each input channel one k × k kernel; there is one per PAIR of input and "
                              "output channels",
        c_out * k * k + c_out: "gave each output channel one k × k kernel; there is one per PAIR of input and "
                               "output channels",
    }
    if got == right:
        passed(name, f"{right:,} is right: a weight tensor of shape ({c_in}, {c_out}, {k}, {k}), "
                     f"{weights:,} numbers, and {c_out} biases; stride and padding add none")
        return
    if got in known:
        fail(name, f"{got:,} is not the count: you {known[got]}")
    fail(name, f"{got:,} is not the count. Count the weight tensor's entries (one {k} × {k} kernel per pair of "
               "input and output channels) and the biases (one per output channel)")


# ---------------------------------------------------------------- 7.6 experiment: a parameter budget

BUDGET_PARAMS, BUDGET_CODE = 2_000, 128
BUDGET_TARGETS = {"smoke": 0.45, "standard": 0.17, "full": 0.17}  # test BCE per pixel
BUDGET_N_TEST = 1_000


@functools.lru_cache(maxsize=1)
def _budget_test_images() -> torch.Tensor:
    from aecourse.data import load_mnist

    x_test, _ = load_mnist("test")
    return x_test[-BUDGET_N_TEST:]  # (1000, 1, 28, 28) grey levels, never used for training in the notebook


def _budget_target() -> tuple[str, float]:
    from aecourse.config import get_mode

    mode = get_mode()
    return mode, BUDGET_TARGETS[mode]


def _modes(model: nn.Module) -> list[bool]:
    return [m.training for m in model.modules()]


def check_param_budget(model) -> None:
    """Check experiment 7.6: a trained autoencoder within 2,000 parameters and a 128-number code reaches the test BCE target (lesson 07)."""
    name = "model_7_6"
    require_answer(name, model, "model_7_6 to your trained autoencoder")
    if not isinstance(model, nn.Module):
        fail(name, f"model_7_6 is a {type(model).__name__}; it must be the trained nn.Module itself")
    encoder, decoder = getattr(model, "encoder", None), getattr(model, "decoder", None)
    missing = [part for part, m in (("encoder", encoder), ("decoder", decoder)) if not isinstance(m, nn.Module)]
    if missing:
        fail(name, f"the model has no {' and no '.join(f'`{part}`' for part in missing)} module: the check reads the "
                   "code from model.encoder(x) and needs model(x) to equal model.decoder(model.encoder(x)); give the "
                   "model the attributes `encoder` (the layers up to the code) and `decoder` (the rest)")
    n_params = sum(p.numel() for p in model.parameters())
    if n_params > BUDGET_PARAMS:
        fail(name, f"the model has {n_params:,} parameters, {n_params - BUDGET_PARAMS:,} over the budget of "
                   f"{BUDGET_PARAMS:,}: fewer channels, or fewer or smaller layers")
    mode, target = _budget_target()
    x = _budget_test_images()
    try:
        param = next(model.parameters())
        device, dtype = param.device, param.dtype
    except StopIteration:
        device, dtype = torch.device("cpu"), torch.float32
    saved = _modes(model)
    model.eval()
    try:
        with torch.no_grad():
            code = call(name, encoder, x=x[:2].to(device, dtype))
            if not isinstance(code, torch.Tensor):
                fail(name, f"model.encoder returned {type(code).__name__}; it should return the code, a tensor")
            code_size = code[0].numel()
            if code_size > BUDGET_CODE:
                fail(name, f"the code has {code_size} numbers per image (shape {tuple(code.shape[1:])}), more than "
                           f"{BUDGET_CODE}: the bottleneck must be at most {BUDGET_CODE} numbers")
            whole, chained = call(name, model, x=x[:2].to(device, dtype)), call(f"{name}.decoder", decoder, z=code)
            if not (isinstance(whole, torch.Tensor) and isinstance(chained, torch.Tensor) and whole.shape == chained.shape
                    and close(whole.double(), chained.double(), 1e-4, 1e-5)):
                fail(name, "model(x) differs from model.decoder(model.encoder(x)): the reconstruction must pass "
                           "through the code alone, with no path around it")
            total, probabilities = 0.0, True
            for xb in x.split(250):
                xb = xb.to(device, dtype)
                logits = call(name, model, x=xb)
                if not isinstance(logits, torch.Tensor) or logits.shape != xb.shape:
                    shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
                    fail(name, f"the model returned {shape} for images of shape {tuple(xb.shape)}; it should "
                               "return one logit per pixel, the images' shape")
                probabilities = probabilities and bool(((logits >= 0) & (logits <= 1)).all())
                total += F.binary_cross_entropy_with_logits(logits.double(), xb.double(), reduction="sum").item()
    finally:
        for m, training in zip(model.modules(), saved, strict=True):
            m.training = training
    bce = total / x.numel()
    measured = (f"test BCE per pixel {bce:.4f} on {len(x):,} held-out test images, {n_params:,} parameters, "
                f"a code of {code_size} numbers")
    if probabilities and bce > target:
        fail(name, f"{measured}: the model's outputs all lie in [0, 1], probabilities rather than logits; the "
                   "check (like the loss) applies the sigmoid itself: return logits (no sigmoid at the end)")
    if not math.isfinite(bce) or bce > target:
        fail(name, f"{measured}: {bce - target:.4f} above the target {target} ({mode} mode's target): train "
                   "longer, or spend the parameters where they help most")
    passed(name, f"{measured}: within the target {target} ({mode} mode's target)")
