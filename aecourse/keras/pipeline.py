"""The input pipeline of lesson 04 in Keras: NumPy twins of aecourse.corruption, fit_fresh and CorruptedPairs.

Two ways to hand Model.fit freshly corrupted inputs. fit_fresh corrupts the whole training set
once per epoch and fits that epoch from plain arrays: the fast way whenever the images fit in
memory. CorruptedPairs, a keras.utils.PyDataset, corrupts batch by batch: the way for data that
do not fit, but on the TensorFlow backend every batch then crosses a Python generator
(tf.data.Dataset.from_generator). On a 2-core CPU that cost lesson 04's MLP 29-41 ms per step
instead of 17-22 from arrays, and slowed later fits from arrays in the same process as much;
on the torch backend both ran alike (benchmarks/keras_pipeline.py measures it).
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np

from ..training import History

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


def fit_fresh(model, x: np.ndarray, transform, *, epochs: int, targets: bool = True, batch_size: int = 128,
              seed: int | None = 0, validation_data=None, verbose: int = 2):
    """Fit a compiled model for `epochs` epochs, each on inputs drawn afresh; return an aecourse History.

    Every epoch starts with transform(x, rng=generator) applied to the whole array, e.g. a new
    corruption of every image, then runs one epoch of Model.fit on it, shuffled, in batches of
    `batch_size`. That is the distribution a per-batch pipeline draws from (each image once per
    epoch, never the same corruption twice), from plain arrays, so fit runs at full speed on every
    backend. targets=True fits (transform(x), x): corrupted inputs, clean targets (a denoiser).
    targets=False fits transform(x) alone, for a model that scores its own input, such as the VAE
    on images binarized afresh (lesson 08). `seed` seeds the NumPy generator, so the inputs repeat.

    The optimizer's step counter runs on across the epochs, so a learning-rate schedule sees one
    run of epochs * ceil(len(x) / batch_size) steps. verbose=0 prints nothing; otherwise one line
    per epoch with every logged value, the seconds and the milliseconds per step.
    """
    if not isinstance(x, np.ndarray) or len(x) == 0:
        raise TypeError(f"fit_fresh expects the training images as a non-empty NumPy array; got "
                        f"{type(x).__name__}. Fix: load them with aecourse.load_mnist(..., numpy=True)")
    if not callable(transform):
        raise TypeError(f"transform must be a function transform(x, rng=...) -> new inputs; got {transform!r}")
    for name, value in [("epochs", epochs), ("batch_size", batch_size)]:
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"fit_fresh needs {name} to be a positive int, got {value!r}")
    if not getattr(model, "compiled", False):
        raise ValueError("fit_fresh needs a compiled model. Fix: call model.compile(optimizer=..., loss=...) first")
    rng = np.random.default_rng(seed)
    history, steps = History(), math.ceil(len(x) / batch_size)
    for epoch in range(epochs):
        start = time.perf_counter()
        inputs = transform(x, rng=rng)
        if not isinstance(inputs, np.ndarray) or inputs.shape != x.shape:
            got = inputs.shape if isinstance(inputs, np.ndarray) else type(inputs).__name__
            raise ValueError(f"transform must return a NumPy array shaped like x, {x.shape}; got {got}")
        fitted = model.fit(inputs, x if targets else None, batch_size=batch_size, epochs=epoch + 1,
                           initial_epoch=epoch, shuffle=True, validation_data=validation_data, verbose=0)
        logs = {name: float(values[-1]) for name, values in fitted.history.items()}
        history.train_loss.append(logs["loss"])
        if "val_loss" in logs:
            history.val_loss.append(logs["val_loss"])
        history.seconds.append(time.perf_counter() - start)
        if verbose:
            values = " - ".join(f"{name}: {value:.4f}" for name, value in logs.items())
            print(f"Epoch {epoch + 1}/{epochs} - {history.seconds[-1]:.0f}s - "
                  f"{1000 * history.seconds[-1] / steps:.0f}ms/step - {values}", flush=True)
    return history


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
