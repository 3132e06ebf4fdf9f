import matplotlib
import matplotlib.pyplot
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from aecourse import plotting
from aecourse.training import History


def _visible_images(fig: Figure) -> int:
    return sum(len(ax.images) for ax in fig.axes)


@pytest.mark.parametrize("shape", [(12, 784), (12, 1, 28, 28), (12, 28, 28), (12, 28, 28, 1)])
def test_plot_images_accepts_every_layout(shape):
    images = torch.rand(*shape)
    fig = plotting.plot_images(images, labels=torch.arange(12), ncols=5, title="digits")
    assert isinstance(fig, Figure) and _visible_images(fig) == 12
    assert fig.axes[0].images[0].get_array().shape == (28, 28)
    titled = [ax.get_title() for ax in fig.axes if ax.images]
    assert titled[:3] == ["0", "1", "2"]


def test_plot_images_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"got \(4, 3, 28, 28\)"):
        plotting.plot_images(np.zeros((4, 3, 28, 28)))
    with pytest.raises(ValueError, match=r"got \(4, 783\)"):
        plotting.plot_images(np.zeros((4, 783)))


def test_reconstructions_are_two_rows(tmp_path):
    x = torch.rand(20, 1, 28, 28)
    fig = plotting.plot_reconstructions(x, x.flatten(1) * 0.5, n=8)
    assert _visible_images(fig) == 16
    top, bottom = fig.axes[0].images[0].get_array(), fig.axes[8].images[0].get_array()
    np.testing.assert_allclose(bottom, top * 0.5, rtol=1e-6)
    fig.savefig(tmp_path / "r.png")  # works under Agg, without pyplot
    assert (tmp_path / "r.png").stat().st_size > 1000
    assert not matplotlib.pyplot.get_fignums(), "figures must not accumulate in pyplot"
    png = fig._repr_png_()  # what a notebook shows when the figure ends a cell
    assert png.startswith(b"\x89PNG")


def test_plot_history_with_and_without_validation():
    a = History(train_loss=[3.0, 2.0, 1.0], val_loss=[3.5, 2.5, 1.5], seconds=[1, 1, 1])
    b = History(train_loss=[2.0, 1.0], seconds=[1, 1])
    fig = plotting.plot_history({"a": a, "b": b})
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels == ["a train", "a validation", "b train"]
    np.testing.assert_array_equal(fig.axes[0].lines[1].get_ydata(), [3.5, 2.5, 1.5])


def test_plot_latent_colours_by_label():
    z = torch.randn(300, 2)
    y = torch.arange(300) % 10
    fig = plotting.plot_latent(z, y)
    assert len(fig.axes[0].collections) == 10
    assert sum(len(c.get_offsets()) for c in plotting.plot_latent(z, y, max_points=100).axes[0].collections) == 100
    assert "first 100 of 300 points" in plotting.plot_latent(z, y, max_points=100).axes[0].get_title()
    with pytest.raises(ValueError, match=r"expected codes of shape \(N, 2\), got \(300, 3\)"):
        plotting.plot_latent(torch.randn(300, 3), y)
