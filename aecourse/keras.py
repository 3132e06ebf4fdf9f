"""Keras 3 pieces for the Keras companions (notebooks/keras): what Keras has no built-in for.

Backend-agnostic (keras.ops, keras.random, keras.layers), so the same code runs with
KERAS_BACKEND=tensorflow (the default, as on Colab) and KERAS_BACKEND=torch. Each piece
follows the conventions of the PyTorch lessons and of aecourse.penalties, and
tests/test_keras_parity.py checks that they agree with them to 1e-5 on both backends:
reconstruction losses summed over pixels and averaged over the batch, penalties averaged
over the batch (the KL sparsity penalty compares batch means).

One Keras detail matters here: since Keras 3.14 the value of an `activity_regularizer` is
divided by the batch size before it joins the loss; Keras 3.0-3.13 add it as it is. The
regularizers below measure what the installed Keras does and undo it, so that
they add exactly the penalty that the lessons define, on every version.

The denoising corruption (lesson 04) lives in the input pipeline: CorruptedPairs, a
keras.utils.PyDataset, yields (corrupted, clean) batches with a fresh corruption every time,
using NumPy twins of aecourse.corruption's three corruptions.
"""

from __future__ import annotations

import functools
import math
import os
import platform

import numpy as np

from .penalties import _EPS  # the same clamp of rho_hat as the PyTorch penalty
from .training import History

try:
    import keras
    from keras import ops
except ImportError as err:  # the package works without Keras; only this module needs it
    raise ImportError(f"aecourse.keras needs Keras 3 ({err}). Fix: pip install 'aecourse[keras]' "
                      "(Keras 3 and TensorFlow), or pip install keras and set KERAS_BACKEND=torch") from None

if int(keras.__version__.split(".")[0]) < 3:
    raise ImportError(f"aecourse.keras needs Keras 3; found Keras {keras.__version__}. "
                      "Fix: pip install -U 'keras>=3'")


@functools.cache
def activity_loss_divisor_is_batch() -> bool:
    """Return whether this Keras divides an activity regularizer's value by the batch size (3.14+)."""
    probe = keras.layers.Identity(activity_regularizer=lambda h: ops.sum(h) * 0.0 + 1.0)
    probe(ops.ones((4, 1)))
    return abs(float(ops.convert_to_numpy(probe.losses[0])) - 0.25) < 1e-6


def _undo_batch_division(value, h):
    """Return value scaled so that Keras' own handling of activity losses leaves `value` unchanged."""
    if activity_loss_divisor_is_batch():
        return value * ops.cast(ops.shape(h)[0], value.dtype)
    return value


def kl_sparsity(h, rho: float = 0.05, beta: float = 3.0):
    """Return beta * sum_j KL(rho || rho_hat_j), rho_hat_j the batch mean of sigmoid unit j (lesson 03)."""
    rho_hat = ops.clip(ops.mean(h, axis=0), _EPS, 1 - _EPS)
    kl = rho * ops.log(rho / rho_hat) + (1 - rho) * ops.log((1 - rho) / (1 - rho_hat))
    return beta * ops.sum(kl)


def l1_activity(h, lam: float):
    """Return lam * mean over the batch of sum_j |h_j| (lesson 03)."""
    return lam * ops.mean(ops.sum(ops.abs(h), axis=1))


@keras.saving.register_keras_serializable(package="aecourse")
class KLSparsity(keras.regularizers.Regularizer):
    """Activity regularizer adding beta * sum_j KL(rho || rho_hat_j) to the loss, for sigmoid units."""

    def __init__(self, rho: float = 0.05, beta: float = 3.0):
        if not 0 < rho < 1:
            raise ValueError(f"KLSparsity needs a target rate 0 < rho < 1, got rho={rho}")
        self.rho, self.beta = float(rho), float(beta)

    def __call__(self, h):
        return _undo_batch_division(kl_sparsity(h, self.rho, self.beta), h)

    def get_config(self) -> dict:
        return {"rho": self.rho, "beta": self.beta}


@keras.saving.register_keras_serializable(package="aecourse")
class L1Activity(keras.regularizers.Regularizer):
    """Activity regularizer adding lam * mean_b sum_j |h_j| (keras.regularizers.L1 sums over the batch too)."""

    def __init__(self, lam: float):
        self.lam = float(lam)

    def __call__(self, h):
        return _undo_batch_division(l1_activity(h, self.lam), h)

    def get_config(self) -> dict:
        return {"lam": self.lam}


def contractive_sigmoid(h, kernel, lam: float = 1.0):
    """Return lam * mean_b sum_j (h_j (1 - h_j))^2 sum_i W_ij^2 for h = sigmoid(x W + b) (lesson 05).

    kernel is the Dense layer's kernel, shape (D, K): Keras stores (in, out), the transpose
    of torch's nn.Linear weight, so the sum over inputs runs over axis 0 here.
    """
    column_norms = ops.sum(ops.square(kernel), axis=0)  # (K,)
    per_example = ops.sum(ops.square(h * (1 - h)) * column_norms, axis=1)  # (B,)
    return lam * ops.mean(per_example)


@keras.saving.register_keras_serializable(package="aecourse")
class ContractiveDense(keras.layers.Dense):
    """A sigmoid Dense layer that adds lam * mean_b ||J(x_b)||_F^2 (closed form) to the model's loss."""

    def __init__(self, units: int, lam: float = 0.1, **kwargs):
        kwargs.pop("activation", None)
        super().__init__(units, activation="sigmoid", **kwargs)
        self.lam = float(lam)

    def call(self, inputs):
        h = super().call(inputs)
        self.add_loss(contractive_sigmoid(h, self.kernel, self.lam))
        return h

    def get_config(self) -> dict:
        return {**super().get_config(), "lam": self.lam}


def bce_sum(x, x_hat):
    """Return the binary cross-entropy summed over pixels and averaged over the batch (lesson 02).

    x_hat holds probabilities; each log is clamped at -100, as torch's binary_cross_entropy does.
    """
    x, x_hat = ops.reshape(x, (ops.shape(x)[0], -1)), ops.reshape(x_hat, (ops.shape(x_hat)[0], -1))
    log_p = ops.maximum(ops.log(x_hat), -100.0)
    log_q = ops.maximum(ops.log(1 - x_hat), -100.0)
    return -ops.mean(ops.sum(x * log_p + (1 - x) * log_q, axis=1))


# --- Denoising (lesson 04): the corruption inside the input pipeline -------------------------
# NumPy twins of aecourse.corruption (the same definitions, drawn from a NumPy Generator), so
# that a keras.utils.PyDataset can corrupt each batch on the CPU whatever the backend.


def _images(x, name: str) -> np.ndarray:
    """Return x checked to be a floating NumPy array with values in [0, 1]."""
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        got = f"an array of {x.dtype}" if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"{name} expects images as a floating NumPy array in [0, 1]; got {got}. "
                        "Fix: aecourse.load_mnist(..., numpy=True) gives float32 images in [0, 1]")
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"{name} expects pixel values in [0, 1]; got values in "
                         f"[{x.min():.3g}, {x.max():.3g}]. Fix: scale the images to [0, 1] first")
    return x


def _fraction(value: float, name: str, what: str) -> float:
    if not 0 <= value <= 1:
        raise ValueError(f"{name} needs {what} between 0 and 1 (a probability per pixel); got {value}")
    return float(value)


def gaussian_noise(x: np.ndarray, noise_factor=0.5, *, rng: np.random.Generator | None = None) -> np.ndarray:
    """Return clip(x + noise_factor * N(0, 1), 0, 1); noise_factor may be an array, e.g. (B, 1) per image."""
    x = _images(x, "gaussian_noise")
    if np.any(np.asarray(noise_factor) < 0):
        raise ValueError(f"gaussian_noise needs noise_factor >= 0 (the noise's standard deviation); got {noise_factor}")
    rng = np.random.default_rng() if rng is None else rng
    noise = rng.standard_normal(x.shape, dtype=np.float32)
    return np.clip(x + np.asarray(noise_factor, dtype=x.dtype) * noise, 0, 1).astype(x.dtype)


def mask_pixels(x: np.ndarray, fraction: float = 0.25, *, rng: np.random.Generator | None = None) -> np.ndarray:
    """Return x with each pixel set to 0 independently with probability `fraction` (masking noise)."""
    x = _images(x, "mask_pixels")
    fraction = _fraction(fraction, "mask_pixels", "fraction")
    rng = np.random.default_rng() if rng is None else rng
    return x * (rng.random(x.shape, dtype=np.float32) >= fraction)


def salt_and_pepper(x: np.ndarray, fraction: float = 0.1, *, rng: np.random.Generator | None = None) -> np.ndarray:
    """Return x with each pixel hit independently with probability `fraction`, then set to 0 or 1 (even odds)."""
    x = _images(x, "salt_and_pepper")
    fraction = _fraction(fraction, "salt_and_pepper", "fraction")
    rng = np.random.default_rng() if rng is None else rng
    hit = rng.random(x.shape, dtype=np.float32) < fraction
    salt = (rng.random(x.shape, dtype=np.float32) < 0.5).astype(x.dtype)
    return np.where(hit, salt, x)


CORRUPTIONS = {"gaussian": gaussian_noise, "masking": mask_pixels, "salt and pepper": salt_and_pepper}


class CorruptedPairs(keras.utils.PyDataset):
    """Batches (corrupt(x_b), x_b) for Model.fit: a fresh corruption of every batch, reshuffled each epoch.

    x: images (N, ...) in [0, 1] as a NumPy array; corrupt(x_b, rng=generator) returns a corrupted
    copy, e.g. functools.partial(aecourse.keras.gaussian_noise, noise_factor=0.5). The target is
    the clean batch, so a model trained on it learns to denoise (lesson 04).
    """

    def __init__(self, x: np.ndarray, corrupt, batch_size: int = 128, shuffle: bool = True,
                 seed: int | None = 0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(x, np.ndarray) or len(x) == 0:
            raise TypeError(f"CorruptedPairs expects the clean images as a non-empty NumPy array; got "
                            f"{type(x).__name__}. Fix: load them with aecourse.load_mnist(..., numpy=True)")
        if not callable(corrupt):
            raise TypeError(f"corrupt must be a function corrupt(x, rng=...) -> corrupted x; got {corrupt!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.x, self.corrupt, self.batch_size, self.shuffle = x, corrupt, batch_size, shuffle
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(x)) if shuffle else np.arange(len(x))

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        clean = self.x[self.order[index * self.batch_size : (index + 1) * self.batch_size]]
        return self.corrupt(clean, rng=self.rng), clean  # (inputs, targets): corrupted in, clean out

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self.order = self.rng.permutation(len(self.x))


# --- Small conveniences for the companions ----------------------------------------------------


def history(keras_history) -> History:
    """Return a keras.callbacks.History (from Model.fit) as an aecourse History, for plot_history."""
    logs = keras_history.history
    return History(train_loss=list(map(float, logs["loss"])),
                   val_loss=list(map(float, logs.get("val_loss", []))))


def describe_hardware() -> str:
    """Return what Keras computes on: the GPU's name, or the CPU and its cores."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    elif backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform != "cpu":
            return device.device_kind
    return f"{platform.machine()} CPU, {os.cpu_count()} cores"
