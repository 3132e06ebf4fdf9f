"""Helpers for the hands-on autoencoders course: data, modes, training loop, plots and metrics.

What a lesson teaches (models, losses, the training step) is written in the lesson;
this package holds the plumbing every lesson shares.

The names below load on first use, so that `python -m aecourse doctor` can run, and say
what is missing, in a Python that has none of the course's dependencies.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# name -> the submodule that defines it (None: the name is a submodule itself)
_EXPORTS = {
    "corruption": None, "penalties": None, "probes": None,
    "MODES": "config", "describe_mode": "config", "get_device": "config", "get_mode": "config",
    "pick": "config", "set_seed": "config",
    "DataError": "data", "DataNotFoundError": "data", "balanced_subset": "data",
    "load_fashion_mnist": "data", "load_mnist": "data", "train_val_split": "data",
    "mse_per_pixel": "metrics", "psnr": "metrics", "squared_error_per_image": "metrics",
    "PCA": "pca", "fit_pca": "pca", "pca_error_curve": "pca",
    "plot_history": "plotting", "plot_image_rows": "plotting", "plot_images": "plotting",
    "plot_latent": "plotting", "plot_reconstructions": "plotting",
    "History": "training", "evaluate": "training", "fit": "training", "predict": "training",
    "slider": "widgets",
    "markdown_table": "tables", "show_table": "tables",
}
# What the course needs installed, by import name (the doctor lists them with their pip names).
DEPENDENCIES = ("numpy", "torch", "matplotlib", "sklearn", "scipy", "tqdm")

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """Import `aecourse.<name>` on first use; say how to fix a missing dependency."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'aecourse' has no attribute {name!r}")
    module = _EXPORTS[name] or name
    try:
        loaded = importlib.import_module(f".{module}", __name__)
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] not in DEPENDENCIES:
            raise
        raise ModuleNotFoundError(
            f"aecourse.{name} needs {err.name}, which this Python does not have. Fix: activate the "
            "course's virtual environment (or pick its kernel in Jupyter), or install the course "
            "into this one with `pip install -e .`; `python -m aecourse doctor` lists what is "
            "missing.", name=err.name) from err
    value = loaded if _EXPORTS[name] is None else getattr(loaded, name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
