"""Helpers for the hands-on autoencoders course: data, modes, training loop, plots and metrics.

What a lesson teaches (models, losses, the training step) is written in the lesson;
this package holds the plumbing every lesson shares.
"""

from . import corruption, penalties
from .config import MODES, describe_mode, get_device, get_mode, pick, set_seed
from .data import (
    DataError,
    DataNotFoundError,
    balanced_subset,
    load_fashion_mnist,
    load_mnist,
    train_val_split,
)
from .metrics import mse_per_pixel, psnr, squared_error_per_image
from .pca import PCA, fit_pca, pca_error_curve
from .plotting import (
    plot_history,
    plot_image_rows,
    plot_images,
    plot_latent,
    plot_reconstructions,
)
from .training import History, evaluate, fit, predict
from .widgets import slider

__version__ = "0.1.0"

__all__ = [
    "MODES", "PCA", "corruption", "penalties", "DataError", "DataNotFoundError", "History", "balanced_subset", "describe_mode",
    "evaluate", "fit", "fit_pca", "get_device", "get_mode", "load_fashion_mnist", "load_mnist",
    "mse_per_pixel", "pca_error_curve", "pick", "plot_history", "plot_image_rows", "plot_images", "plot_latent",
    "plot_reconstructions", "predict", "psnr", "set_seed", "slider", "squared_error_per_image",
    "train_val_split",
]
