"""Run budget (mode), seeding and device selection shared by every notebook."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

MODES = ("smoke", "standard", "full")
MODE_HELP = {
    "smoke": "CI budget: tiny subsets, one or two epochs; proves the code runs, not that it learns",
    "standard": "laptop budget: each notebook in about ten minutes on a CPU",
    "full": "paper-reproduction budget, meant for a GPU (Colab)",
}
DEFAULT_MODE = "standard"


def get_mode() -> str:
    """Return the run budget named by AECOURSE_MODE (default: 'standard')."""
    mode = os.environ.get("AECOURSE_MODE", DEFAULT_MODE).strip().lower() or DEFAULT_MODE
    if mode not in MODES:
        raise ValueError(
            f"AECOURSE_MODE={os.environ['AECOURSE_MODE']!r} is not a mode; expected one of "
            f"{', '.join(MODES)}. Fix: export AECOURSE_MODE=standard (or smoke, full), "
            "or in a notebook run os.environ['AECOURSE_MODE'] = 'standard' before importing."
        )
    return mode


def pick(*, smoke, standard, full):
    """Return the value for the current mode, e.g. pick(smoke=1, standard=10, full=50)."""
    return {"smoke": smoke, "standard": standard, "full": full}[get_mode()]


def set_seed(seed: int = 0) -> int:
    """Seed Python, NumPy and PyTorch (CPU and every CUDA device); return the seed."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"expected a non-negative int seed, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed


def get_device(require: str | None = None, verbose: bool = True) -> torch.device:
    """Return cuda if available, else mps, else cpu; `require='cuda'` makes a missing GPU an error."""
    if require not in (None, "cuda", "mps", "cpu"):
        raise ValueError(f"require must be None, 'cuda', 'mps' or 'cpu', got {require!r}")
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if require == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "a CUDA GPU was required but torch sees none "
            f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}). "
            "Fix: on Colab choose Runtime > Change runtime type > GPU and rerun; "
            "locally install a CUDA build of torch, or call get_device() to run on the CPU."
        )
    if require == "mps" and not has_mps:
        raise RuntimeError("Apple's MPS backend was required but is not available on this machine.")
    if require == "cpu":
        device, why = torch.device("cpu"), "requested"
    elif torch.cuda.is_available():
        device, why = torch.device("cuda"), torch.cuda.get_device_name(0)
    elif has_mps:
        device, why = torch.device("mps"), "Apple GPU"
    else:
        device, why = torch.device("cpu"), f"no GPU found, {torch.get_num_threads()} threads"
    if verbose:
        print(f"device: {device.type} ({why})")
    return device


def describe_mode() -> str:
    """Return a one-line description of the current mode, for a notebook's setup cell."""
    mode = get_mode()
    return f"mode: {mode} ({MODE_HELP[mode]})"
