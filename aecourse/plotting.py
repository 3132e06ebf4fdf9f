"""Figures for the lessons: image grids, reconstructions, loss curves, latent scatter plots.

Every function returns a matplotlib Figure that is not registered with pyplot:
it shows once when it is the last expression of a notebook cell (or via
display(fig)), saves with fig.savefig, and leaks nothing in long scripts.
"""

from __future__ import annotations

import io
import math

import matplotlib
import matplotlib.figure
import numpy as np
import torch


class Figure(matplotlib.figure.Figure):
    """A matplotlib Figure that renders itself as PNG when a notebook displays it."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()


def to_numpy(a) -> np.ndarray:
    """Return a tensor or array-like as a NumPy array on the CPU."""
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def as_image_array(images) -> np.ndarray:
    """Return images (N, 784), (N, 1, H, W), (N, H, W) or (N, H, W, 1) as an (N, H, W) array."""
    a = to_numpy(images)
    shape = a.shape
    if a.ndim == 4 and 1 in (a.shape[1], a.shape[3]):
        a = a.reshape(shape[0], *(shape[2:] if shape[1] == 1 else shape[1:3]))
    elif a.ndim == 2 and math.isqrt(shape[1]) ** 2 == shape[1]:
        side = math.isqrt(shape[1])
        a = a.reshape(shape[0], side, side)
    if a.ndim != 3:
        raise ValueError(f"expected grey images of shape (N, 784), (N, 1, H, W), (N, H, W) or "
                         f"(N, H, W, 1), got {shape}")
    return a


def new_image_figure(nrows: int, ncols: int, cell: float = 1.0) -> tuple[Figure, np.ndarray]:
    """Return a Figure with an (nrows, ncols) grid of axes for images, their frames hidden."""
    fig = Figure(figsize=(ncols * cell, nrows * cell), layout="constrained")
    axes = np.atleast_2d(fig.subplots(nrows, ncols, squeeze=False))
    for ax in axes.flat:
        ax.set_axis_off()
    return fig, axes


def plot_images(images, labels=None, ncols: int = 10, title: str | None = None,
                cmap: str = "gray", vmin: float = 0.0, vmax: float = 1.0) -> Figure:
    """Draw images in a grid, each titled with its label if labels are given."""
    a = as_image_array(images)
    if len(a) == 0:
        raise ValueError("no images to plot")
    ncols = min(ncols, len(a))
    nrows = math.ceil(len(a) / ncols)
    fig, axes = new_image_figure(nrows, ncols, cell=1.1 if labels is not None else 1.0)
    names = None if labels is None else to_numpy(labels)
    for i, img in enumerate(a):
        ax = axes.flat[i]
        ax.imshow(img, cmap=cmap, vmin=vmin, vmax=vmax)
        if names is not None:
            ax.set_title(str(names[i]), fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def plot_image_rows(rows: dict, n: int = 10, title: str | None = None) -> Figure:
    """Draw the first n images of each entry of `rows` as one labelled row, e.g. {'input': x, 'output': x_hat}."""
    arrays = {name: as_image_array(imgs)[:n] for name, imgs in rows.items()}
    n = min(len(a) for a in arrays.values())
    fig, axes = new_image_figure(len(arrays), n)
    for r, (name, a) in enumerate(arrays.items()):
        for c in range(n):
            axes[r, c].imshow(a[c], cmap="gray", vmin=0.0, vmax=1.0)
        axes[r, 0].text(-0.1, 0.5, name, transform=axes[r, 0].transAxes, ha="right",
                        va="center", fontsize=10)
    if title:
        fig.suptitle(title)
    return fig


def plot_reconstructions(x, x_hat, n: int = 10, title: str | None = None) -> Figure:
    """Draw n originals above their reconstructions."""
    return plot_image_rows({"original": x, "reconstruction": x_hat}, n=n, title=title)


def plot_history(history, title: str | None = None, log: bool = True) -> Figure:
    """Draw train (and validation) loss per epoch from a History, or several as {'name': History}."""
    histories = history if isinstance(history, dict) else {"": history}
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.subplots()
    for name, h in histories.items():
        epochs = np.arange(1, len(h.train_loss) + 1)
        line = ax.plot(epochs, h.train_loss, marker="o", ms=3, label=f"{name} train".strip())[0]
        if h.val_loss:
            ax.plot(epochs, h.val_loss, ls="--", color=line.get_color(),
                    label=f"{name} validation".strip())
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if log:
        ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    return fig


def plot_latent(z, labels, title: str | None = None, max_points: int = 5000) -> Figure:
    """Scatter 2-D codes z (N, 2) coloured by label (at most max_points of them)."""
    z, labels = to_numpy(z), to_numpy(labels)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"expected codes of shape (N, 2), got {z.shape}; for wider codes "
                         "project to 2-D first (e.g. with PCA or t-SNE)")
    if len(labels) != len(z):
        raise ValueError(f"z has {len(z)} rows but labels has {len(labels)}")
    shown = f" (first {max_points} of {len(z)} points)" if len(z) > max_points else ""
    z, labels = z[:max_points], labels[:max_points]
    fig = Figure(figsize=(5.5, 5), layout="constrained")
    ax = fig.subplots()
    cmap = matplotlib.colormaps["tab10"]
    for c in np.unique(labels):
        pts = z[labels == c]
        ax.scatter(pts[:, 0], pts[:, 1], s=3, alpha=0.6, color=cmap(int(c) % 10), label=str(c))
    ax.legend(markerscale=4, title="label", loc="best", fontsize=8)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title or shown:
        ax.set_title(f"{title or ''}{shown}")
    return fig
