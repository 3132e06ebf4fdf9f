"""Probe images (lesson 02, reused in lesson 03 and Keras companions 02 and 03): digits, shifted digits, and images that are not digits.

A model's reconstruction error on these tells a model that copies anything (small error on
every kind) from one that has learned what digits look like (small error on digits only).
Every probe but the shifted digits stays inside `BOX`, the central 20 x 20 pixels where
MNIST's digits live: the border pixels are blank in nearly every training image, so what a
model does there says nothing about copying.
"""

from __future__ import annotations

import numpy as np
import torch

PROBE_KINDS = ("digits", "shifted", "noise", "inverted", "stripes", "shapes")
"""The kinds `make_probes` returns, in order; "shifted" are digits, the last four are not."""
NOT_DIGITS = ("noise", "inverted", "stripes", "shapes")
"""The kinds that are not digits at all."""
BOX = (slice(4, 24), slice(4, 24))
"""Rows and columns of the central 20 x 20 pixels of a 28 x 28 image."""
SHIFT = 3
"""How far the shifted digits move, in pixels, down and to the right."""


def _as_digit_images(x_digits) -> tuple[torch.Tensor, str]:
    """Return x_digits as a float32 tensor (N, 28, 28) in [0, 1], and its layout: "nchw", "nhw" or "flat"."""
    if isinstance(x_digits, np.ndarray):
        x = torch.from_numpy(np.asarray(x_digits, dtype=np.float32))
    elif isinstance(x_digits, torch.Tensor):
        x = x_digits.detach().to("cpu", torch.float32)
    else:
        raise TypeError(f"make_probes expects digit images as a torch.Tensor or a NumPy array; got "
                        f"{type(x_digits).__name__}. Fix: pass aecourse.load_mnist's images")
    shape = tuple(x.shape)
    if len(shape) == 4 and shape[1:] == (1, 28, 28):
        layout = "nchw"
    elif len(shape) == 3 and shape[1:] == (28, 28):
        layout = "nhw"
    elif len(shape) == 2 and shape[1] == 784:
        layout = "flat"
    else:
        raise ValueError(f"make_probes expects images of shape (N, 1, 28, 28), (N, 28, 28) or (N, 784); got {shape}. "
                         "Fix: pass a batch of MNIST images, e.g. x_test[:500]")
    if shape[0] == 0:
        raise ValueError("make_probes needs at least one digit image; got an empty batch")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:
        raise ValueError(f"make_probes expects pixel values in [0, 1]; got values in [{lo:.3g}, {hi:.3g}]. "
                         "Fix: scale the images to [0, 1] first (aecourse.load_mnist does)")
    return x.reshape(-1, 28, 28), layout


def _stripes(n: int, g: torch.Generator) -> torch.Tensor:
    """Return (n, 28, 28) bands of 0 and 1, period 4 to 8 pixels, horizontal or vertical at random."""
    row, col = torch.meshgrid(torch.arange(28), torch.arange(28), indexing="ij")  # (28, 28) each
    period = torch.randint(4, 9, (n, 1, 1), generator=g)
    across = torch.where(torch.rand(n, 1, 1, generator=g) < 0.5, row, col)  # (n, 28, 28)
    return (across % period < period / 2).float()


def _outlines(n: int, g: torch.Generator) -> torch.Tensor:
    """Return (n, 28, 28) outlines 2 pixels thick: squares (even indices) and rings (odd), half-size 4 to 6."""
    row, col = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    cr, cc = torch.randint(11, 17, (2, n, 1, 1), generator=g).float()  # centres
    size = torch.randint(4, 7, (n, 1, 1), generator=g).float()
    ring = ((row - cr) ** 2 + (col - cc) ** 2).sqrt()  # (n, 28, 28) distance to the centre
    square = torch.maximum((row - cr).abs(), (col - cc).abs())
    radius = torch.where(torch.arange(n)[:, None, None] % 2 == 0, square, ring)
    return ((radius <= size) & (radius > size - 2)).float()


def make_probes(x_digits: torch.Tensor | np.ndarray, seed: int = 0) -> dict[str, torch.Tensor | np.ndarray]:
    """Return {kind: N images} for the kinds of PROBE_KINDS, in x_digits' type and shape, float32 in [0, 1].

    x_digits: (N, 1, 28, 28), (N, 28, 28) or (N, 784) in [0, 1], a tensor or a NumPy array. "digits"
    are these images, "shifted" the same moved SHIFT pixels down and right, "inverted" 1 - x inside
    BOX; "noise" (uniform), "stripes" and "shapes" depend only on N and seed, not on the digits.
    """
    digits, layout = _as_digit_images(x_digits)
    n, g = len(digits), torch.Generator().manual_seed(seed)
    box = torch.zeros(28, 28)
    box[BOX] = 1.0
    kinds = {"digits": digits.clone(),
             "shifted": torch.nn.functional.pad(digits, (SHIFT, 0, SHIFT, 0))[:, :28, :28],
             "noise": torch.rand(n, 28, 28, generator=g) * box,
             "inverted": (1 - digits) * box,
             "stripes": _stripes(n, g) * box,
             "shapes": _outlines(n, g)}
    shape = {"nchw": (n, 1, 28, 28), "nhw": (n, 28, 28), "flat": (n, 784)}[layout]
    if isinstance(x_digits, np.ndarray):
        return {kind: images.reshape(shape).numpy() for kind, images in kinds.items()}
    return {kind: images.reshape(shape).to(x_digits.device) for kind, images in kinds.items()}
