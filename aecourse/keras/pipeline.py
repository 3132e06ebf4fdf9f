"""The input pipeline of lesson 04 in Keras: NumPy twins of aecourse.corruption and CorruptedPairs."""

from __future__ import annotations

import math

import keras
import numpy as np

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
