"""What every exercise check shares: calling the answer safely, comparing, and one diagnosis."""

from __future__ import annotations

import copy
import functools
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

Mistakes = list[tuple[str, Callable[[], torch.Tensor]]]
HERE = Path(__file__).resolve().parent


class CheckFailed(AssertionError):
    """A check's diagnosis. Jupyter shows it without the check's own frames (which hold the answers)."""

    def _render_traceback_(self) -> list[str]:
        """Return the lines IPython shows: the learner's frames of a crash, if any, then the diagnosis."""
        lines = []
        if self.__cause__ is not None:
            tb = traceback.TracebackException.from_exception(self.__cause__)
            tb.stack = traceback.StackSummary.from_list(
                [f for f in tb.stack if not Path(f.filename).resolve().is_relative_to(HERE)])
            lines = "".join(tb.format()).rstrip("\n").split("\n") + [""]
        return lines + [f"{type(self).__name__}: {self}"]


def fail(name: str, message: str, cause: BaseException | None = None):
    """Raise the diagnosis as an AssertionError (how nbgrader sees a lost point); Jupyter shows it once."""
    raise CheckFailed(f"✗ {name}: {message}") from cause


def passed(name: str, message: str) -> None:
    """Print a one-line confirmation."""
    print(f"✓ {name}: {message}")


def _show(a) -> str:
    if isinstance(a, torch.Tensor):
        return f"tensor {tuple(a.shape)}"
    return repr(a) if isinstance(a, (int, float, list, tuple)) else type(a).__name__


def _report_warnings(name: str, caught: list) -> None:
    """Print the warnings an answer raised, on stdout: named, never hidden, and never costing a point.

    nbgrader scores a graded cell 0 when anything reaches stderr, where Python writes warnings;
    a warning (a deprecated function, float() of a tensor that requires grad) is not a mistake.
    """
    seen = set()
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        if text not in seen:
            seen.add(text)
            print(f"note: {name} raised a warning (it costs nothing, but read it): {text}")


def warnings_on_stdout(check: Callable) -> Callable:
    """Wrap a check so that every warning raised while it runs is printed on stdout (see _report_warnings).

    `call` already does this for the answer's main calls; this covers the others (the rerun on the
    meta device, the probes for a banned function), so that no warning reaches stderr, where nbgrader
    would take the point.
    """
    @functools.wraps(check)
    def run(*args, **kwargs):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                return check(*args, **kwargs)
            finally:
                _report_warnings(getattr(args[0] if args else None, "__name__", None) or check.__name__, caught)
    return run


def call(name: str, fn: Callable, **args):
    """Return fn(*args) (positionally); turn a stub, a crash or an in-place change into a diagnosis.

    Warnings raised inside the answer are caught and printed on stdout (see _report_warnings).
    """
    saved = {k: v.detach().clone() for k, v in args.items() if isinstance(v, torch.Tensor)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = fn(*args.values())
        except NotImplementedError:
            fail(name, "not written yet: replace `raise NotImplementedError()` with your code, "
                       "run that cell, then run this check again")
        except Exception as err:
            called = ", ".join(f"{k}={_show(v)}" for k, v in args.items())
            fail(name, f"raised {type(err).__name__}: {err} (called with {called})", err)
    _report_warnings(name, caught)
    for key, before in saved.items():
        if not torch.equal(args[key].detach(), before):
            fail(name, f"changed its input `{key}` in place (`{key} -= ...`, `{key}[...] = ...` or a "
                       f"method ending in `_`); compute a new tensor instead (`y = {key} * 2`, not `{key} *= 2`)")
    return out


_DEVICE_ERRORS = ("same device", "expected device", "is on cpu", "on device cpu", "device type cpu",
                  "found at least two devices")


class _MixedDevices(Exception):
    """Raised by _DeviceWatch when one operation gets tensors of the input's device and of the CPU."""


class _DeviceWatch(torch.overrides.TorchFunctionMode):
    """Stop at the first operation that mixes meta tensors with CPU tensors of one or more dimensions.

    Some meta kernels accept such a mix (`meta @ cpu` returns a meta tensor), where CUDA raises; a
    zero-dimensional CPU tensor is allowed, as CUDA allows it.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        tensors = [t for t in torch.utils._pytree.tree_leaves((args, kwargs or {})) if isinstance(t, torch.Tensor)]
        if (any(t.device.type == "meta" for t in tensors)
                and any(t.device.type == "cpu" and t.dim() > 0 for t in tensors)):
            raise _MixedDevices(f"{getattr(func, '__name__', func)} got tensors on meta and on cpu")
        return func(*args, **(kwargs or {}))


def check_device(name: str, fn: Callable, **args) -> None:
    """Fail if fn makes tensors on the CPU whatever its inputs' device (they would crash on a GPU).

    The answer runs once more with every tensor and module argument on PyTorch's `meta` device,
    which has shapes but no data, so it costs nothing and needs no GPU: a tensor the answer makes
    with `torch.rand(shape)` or `torch.zeros(n)` lands on the CPU and mixing it with a meta tensor
    fails exactly as mixing it with a CUDA tensor would. Errors of any other kind (an operation
    that has no meta version) are not the learner's fault and are ignored here.
    """
    moved = {k: (v.detach().to("meta").requires_grad_(v.requires_grad) if isinstance(v, torch.Tensor)
                 else copy.deepcopy(v).to("meta") if isinstance(v, torch.nn.Module) else v)
             for k, v in args.items()}  # a module is copied: the learner's own stays where it is
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with _DeviceWatch():
                out = fn(*moved.values())
        except Exception as err:
            text = "same device" if isinstance(err, _MixedDevices) else str(err).lower()
            if "cannot copy out of meta tensor" in text or "to numpy" in text:
                fail(name, "copied a tensor off its device (`.cpu()`, `.to('cpu')`, `.tolist()` or "
                           "`.numpy()`): for an input on a GPU that fails or returns a result on another "
                           "device. Keep the computation in torch, on the input's device", err)
            if any(s in text for s in _DEVICE_ERRORS) or ("cpu" in text and "meta" in text):
                fail(name, "made a tensor on the CPU whatever the input's device (for example "
                           "`torch.rand(x.shape)` or `torch.zeros(n)`); on a GPU this crashes. Make new "
                           "tensors where the input lives: `torch.rand_like(x)`, or pass "
                           "`device=x.device` (the check ran your code with its inputs on another device)",
                     err)
            return
    outs = out if isinstance(out, (tuple, list)) else (out,)
    for o in outs:
        if isinstance(o, torch.Tensor) and o.device.type != "meta":
            fail(name, f"returned a tensor on {o.device.type} for inputs on another device: make new "
                       "tensors with `torch.zeros_like(x)`, `torch.rand_like(x)` or `device=x.device`, "
                       "and do not call `.cpu()` (the check ran your code with its inputs on another device)")


def require_answer(name: str, value, what: str) -> None:
    """Fail with "not written yet" while an answer variable still holds its placeholder (None or ...)."""
    if value is None or value is Ellipsis:
        fail(name, f"not written yet: set {what} in the cell above (replace `raise NotImplementedError()`), "
                   "run it, then run this check again")


def check_choice(name: str, answer, correct: str, why: dict[str, str]) -> None:
    """Grade a prediction: answer is one letter of `why` (any case); say why the chosen letter is right or wrong.

    `why` maps every letter to one sentence on that choice: for the right one, why it happens;
    for each wrong one, what that choice overlooks. The learner sees the sentence of the letter
    they chose, never the others'.
    """
    letters = ", ".join(f'"{k}"' for k in why)
    require_answer(name, answer, f"your prediction to one of {letters}")
    if not isinstance(answer, str) or answer.strip().upper() not in why:
        fail(name, f"expected one letter as a string, one of {letters}; got {answer!r}")
    letter = answer.strip().upper()
    if letter != correct:
        fail(name, f"{letter} is not what happens. {why[letter]}")
    passed(name, f"{letter} is right. {why[letter]}")


def expect_tensor(name: str, out, shape: tuple, hints: dict | None = None,
                  dtype: torch.dtype | None = None) -> torch.Tensor:
    """Return out detached if it is a tensor of the expected shape (and dtype); otherwise say what came back."""
    if isinstance(out, (tuple, list)):
        fail(name, f"returned a {type(out).__name__} of {len(out)} items; return one tensor of shape {shape}")
    if not isinstance(out, torch.Tensor):
        fail(name, f"returned {type(out).__name__}, expected a torch.Tensor of shape {shape}")
    got = tuple(out.shape)
    if got != shape:
        fail(name, (hints or {}).get(got, f"returned shape {got}, expected {shape}"))
    if dtype is not None and out.dtype != dtype:
        fail(name, f"returned {str(out.dtype).removeprefix('torch.')}, expected "
                   f"{str(dtype).removeprefix('torch.')} like its input: a float32 layer would reject it "
                   "(look for `torch.tensor(...)` of a NumPy value, `.double()` or a float64 constant tensor)")
    return out.detach()


def close(a: torch.Tensor, b: torch.Tensor | None, rtol: float, atol: float) -> bool:
    """Return whether a and b have one shape and agree within tolerance (NaN matching NaN)."""
    return (b is not None and a.shape == b.shape
            and torch.allclose(a.double(), b.double(), rtol=rtol, atol=atol, equal_nan=True))


def _attempt(make: Callable[[], torch.Tensor]) -> torch.Tensor | None:
    try:
        with torch.no_grad():
            return make()
    except Exception:
        return None  # this mistake cannot produce an output for these inputs


def diagnose(name: str, out: torch.Tensor, ref: torch.Tensor, mistakes: Mistakes, where: str,
             rtol: float = 1e-4, atol: float = 1e-4) -> None:
    """Pass if out matches ref; else fail naming the first known mistake it matches, or the largest error."""
    if close(out, ref, rtol, atol):
        return
    for message, make in mistakes:
        if close(out, _attempt(make), rtol, atol):
            fail(name, f"{message} (seen {where})")
    if not torch.isfinite(out).all():
        bad = int((~torch.isfinite(out)).sum())
        fail(name, f"returned NaN or inf in {bad} of {out.numel()} entries {where}")
    err = (out.double() - ref.double()).abs()
    i = int(err.argmax())
    at = tuple(int(j) for j in torch.unravel_index(torch.tensor(i), out.shape)) if out.dim() else ()
    fail(name, f"wrong values {where}: entry {at} is {out.flatten()[i].item():.5g}, expected "
               f"{ref.flatten()[i].item():.5g} (largest error {err.max().item():.3g})")


def seeded(seed: int, make: Callable):
    """Return make() run under torch.manual_seed(seed), leaving the caller's random state alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make()


VALIDATION_FIRST, VALIDATION_POOL = 50_000, 10_000  # MNIST training images 50,000 to 59,999


@functools.lru_cache(maxsize=8)
def _validation_digits(n: int) -> torch.Tensor:
    from ..data import load_mnist

    x_train, _ = load_mnist("train", flatten=True)
    return x_train[VALIDATION_FIRST + torch.arange(n) * VALIDATION_POOL // n]


def validation_digits(n: int) -> torch.Tensor:
    """Return n MNIST training images that no experiment trains on, flattened: (n, 784) in [0, 1].

    The experiments (3.4, 4.3-4.4, 5.4, 6.4, 8.4, 8.6) train on at most the first 6,000 training images
    and score a learner's setting on these, spread evenly over training images 50,000 to 59,999: a
    setting is chosen on validation data, as lesson 04 teaches, and the test set is left for the
    lessons' final numbers. The same images every call, for every learner (a fresh copy each call).
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 0 < n <= VALIDATION_POOL:
        raise ValueError(f"n must be a whole number from 1 to {VALIDATION_POOL:,}, got {n!r}")
    return _validation_digits(n).clone()


class Autoencoder(nn.Module):
    """An autoencoder for the checks, made of the given encoder and decoder modules."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def _through_checks(tb) -> bool:
    """Return whether a traceback passes through the checks' own code."""
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(HERE):
            return True
        tb = tb.tb_next
    return False


def _show_without_check_frames(shell, etype, value, tb, tb_offset=None) -> list[str]:
    """IPython handler: show an error raised while a check runs (an interrupt, a grading timeout)
    without the check's frames, which hold the answers; any other error as IPython always does."""
    if isinstance(value, CheckFailed) or not _through_checks(tb):
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset, running_compiled_code=True)
        return []
    summary = traceback.TracebackException(etype, value, tb)
    summary.stack = traceback.StackSummary.from_list(
        [f for f in summary.stack[1:] if not Path(f.filename).resolve().is_relative_to(HERE)])
    summary.__cause__ = summary.__context__ = None
    lines = "".join(summary.format()).rstrip("\n").split("\n")[:-1]
    what = str(value) or "interrupted"
    lines.append(f"{etype.__name__}: {what} (while a check was running; its code is not shown)")
    shell._showtraceback(etype, value, lines)
    return []


def hide_check_frames() -> None:
    """In IPython, show errors raised inside a check (KeyboardInterrupt included) without its source.

    Runs when the checks are imported; leaves alone a shell that already has its own handler."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and not getattr(shell, "custom_exceptions", ()):
        shell.set_custom_exc((Exception, KeyboardInterrupt), _show_without_check_frames)


hide_check_frames()
