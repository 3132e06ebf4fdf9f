import sys

import matplotlib.pyplot
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from aecourse import plotting, widgets


def _recording_render(calls: list, with_pyplot: bool = False):
    """Return a render(t) that draws a grey square of brightness t and records each t."""

    def render(t):
        calls.append(t)
        if with_pyplot:
            fig, ax = matplotlib.pyplot.subplots(figsize=(2, 2))
        else:
            fig = Figure(figsize=(2, 2))
            ax = fig.subplots()
        ax.imshow(np.full((4, 4), t), cmap="gray", vmin=0, vmax=1)
        return fig

    return render


def _panels(fig: Figure) -> int:
    return sum(len(ax.images) for ax in fig.axes)


def test_widget_path_returns_a_slider_that_redraws():
    ipywidgets = pytest.importorskip("ipywidgets")
    calls = []
    w = widgets.slider(_recording_render(calls), np.linspace(0, 1, 5), description="t")
    assert isinstance(w, ipywidgets.Widget)
    assert calls == [0.0], "the first value is drawn once, when the slider is made"
    control = w.children[0]
    assert isinstance(control, ipywidgets.SelectionSlider) and control.description == "t"
    assert [label for label, _ in control.options] == ["0", "0.25", "0.5", "0.75", "1"]
    control.index = 3  # what moving the slider does
    assert calls == [0.0, 0.75]
    assert isinstance(calls[-1], float), "NumPy values reach render as plain Python numbers"


def test_widget_path_closes_pyplot_figures():
    pytest.importorskip("ipywidgets")
    matplotlib.pyplot.close("all")
    w = widgets.slider(_recording_render([], with_pyplot=True), [0.0, 0.5, 1.0])
    w.children[0].index = 2
    assert not matplotlib.pyplot.get_fignums(), "figures made with pyplot must not pile up"


def test_widget_labels_stay_distinct():
    pytest.importorskip("ipywidgets")
    w = widgets.slider(_recording_render([]), [0.1, 0.1000001])
    labels = [label for label, _ in w.children[0].options]
    assert len(set(labels)) == 2


def test_fallback_without_ipywidgets_says_so_and_draws_a_strip(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # makes `import ipywidgets` fail
    calls = []
    fig = widgets.slider(_recording_render(calls), torch.linspace(0, 1, 11), description="t")
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed == [widgets.NO_WIDGETS]
    assert "pip install ipywidgets" in printed[0] and "restart the kernel" in printed[0]
    assert isinstance(fig, plotting.Figure) and _panels(fig) == 5
    assert calls == pytest.approx([0.0, 0.2, 0.5, 0.8, 1.0])
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles == ["t = 0", "t = 0.2", "t = 0.5", "t = 0.8", "t = 1"]
    assert fig._repr_png_().startswith(b"\x89PNG")


def test_fallback_with_few_values_draws_each_once(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    fig = widgets.slider(_recording_render([], with_pyplot=True), [0.0, 1.0], n_static=5)
    assert _panels(fig) == 2
    assert not matplotlib.pyplot.get_fignums()


@pytest.mark.parametrize("missing_widgets", [False, True])
def test_bad_arguments_say_what_was_expected(monkeypatch, missing_widgets):
    if missing_widgets:
        monkeypatch.setitem(sys.modules, "ipywidgets", None)
    render = _recording_render([])
    with pytest.raises(ValueError, match="at least one value.*got an empty sequence"):
        widgets.slider(render, [])
    with pytest.raises(TypeError, match="values must be a sequence.*got float"):
        widgets.slider(render, 0.5)
    with pytest.raises(TypeError, match="render must be a function.*got int"):
        widgets.slider(3, [0.0, 1.0])
    with pytest.raises(TypeError, match="description must be a str, got float"):
        widgets.slider(render, [0.0, 1.0], description=0.5)
    with pytest.raises(TypeError, match="must return a matplotlib Figure, got NoneType for value 0.0"):
        widgets.slider(lambda t: None, [0.0, 1.0])
    with pytest.raises(TypeError, match="must return a matplotlib Figure, got ndarray"):
        widgets.slider(lambda t: np.zeros((28, 28)), [0.0, 1.0])


def test_fallback_stacks_wide_renderings_in_a_column(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)

    def wide(t):
        fig = Figure(figsize=(8, 2))
        fig.subplots(1, 4)
        return fig

    fig = widgets.slider(wide, [0.0, 0.5, 1.0])
    assert _panels(fig) == 3
    assert fig.axes[0].get_subplotspec().get_gridspec().get_geometry() == (3, 1)
    square = widgets.slider(_recording_render([]), [0.0, 0.5, 1.0])
    assert square.axes[0].get_subplotspec().get_gridspec().get_geometry() == (1, 3)
