"""What every exercise check shares: calling the answer safely, comparing, and one diagnosis."""

from __future__ import annotations

import traceback
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


def call(name: str, fn: Callable, **args):
    """Return fn(*args) (positionally); turn a stub, a crash or an in-place change into a diagnosis."""
    saved = {k: v.detach().clone() for k, v in args.items() if isinstance(v, torch.Tensor)}
    try:
        out = fn(*args.values())
    except NotImplementedError:
        fail(name, "not written yet: replace `raise NotImplementedError()` with your code, "
                   "run that cell, then run this check again")
    except Exception as err:
        called = ", ".join(f"{k}={_show(v)}" for k, v in args.items())
        fail(name, f"raised {type(err).__name__}: {err} (called with {called})", err)
    for key, before in saved.items():
        if not torch.equal(args[key].detach(), before):
            fail(name, f"changed its input `{key}` in place (`{key} -= ...`, `{key}[...] = ...` or a "
                       f"method ending in `_`); compute a new tensor instead, e.g. `{key} - mu`")
    return out


def expect_tensor(name: str, out, shape: tuple, hints: dict | None = None) -> torch.Tensor:
    """Return out detached if it is a tensor of the expected shape; otherwise say what came back."""
    if isinstance(out, (tuple, list)):
        fail(name, f"returned a {type(out).__name__} of {len(out)} items; return one tensor of shape {shape}")
    if not isinstance(out, torch.Tensor):
        fail(name, f"returned {type(out).__name__}, expected a torch.Tensor of shape {shape}")
    got = tuple(out.shape)
    if got != shape:
        fail(name, (hints or {}).get(got, f"returned shape {got}, expected {shape}"))
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


class Autoencoder(nn.Module):
    """An autoencoder for the checks, made of the given encoder and decoder modules."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
