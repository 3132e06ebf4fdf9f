"""Interactive sliders with a static fallback; first used in lesson 02 (latent interpolation).

slider(render, values) redraws render(value) as you move a slider when ipywidgets is
installed (versions 7 and 8); without it, it says so in one line and returns a static
strip of render at a few of the values instead.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import matplotlib.figure
import matplotlib.image
import numpy as np

from .plotting import Figure, new_image_figure

NO_WIDGETS = ("interactive mode needs ipywidgets, which is not installed: showing a static strip "
              "instead. Fix: pip install ipywidgets, then restart the kernel.")


def _label(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _checked_values(values) -> list:
    """Return values as a plain list (arrays and tensors become Python numbers)."""
    if hasattr(values, "tolist"):  # a NumPy array or a torch tensor
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"values must be a sequence of values to slide through, e.g. "
                        f"np.linspace(0, 1, 11), got {type(values).__name__}")
    if len(values) == 0:
        raise ValueError("values must hold at least one value to slide through, got an empty sequence")
    return list(values)


def _render_png(render: Callable, value) -> bytes:
    """Call render(value), check that it made a Figure, and return that figure as PNG bytes."""
    fig = render(value)
    if not isinstance(fig, matplotlib.figure.Figure):
        raise TypeError(f"render(value) must return a matplotlib Figure, got {type(fig).__name__} "
                        f"for value {value!r}; end render with `return fig`")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    if getattr(fig.canvas, "manager", None) is not None:  # made with pyplot: close it, or it piles up
        import matplotlib.pyplot as plt

        plt.close(fig)
    return buffer.getvalue()


def static_strip(render: Callable, values, description: str = "value", n: int = 5) -> Figure:
    """Return one Figure of render(value) for n evenly spaced entries of values, in a row or a column."""
    values = _checked_values(values)
    picks = sorted(set(np.linspace(0, len(values) - 1, min(n, len(values))).round().astype(int)))
    panels = [matplotlib.image.imread(io.BytesIO(_render_png(render, values[i]))) for i in picks]
    aspect = panels[0].shape[1] / panels[0].shape[0]  # width / height of one rendering
    column = aspect > 1.5  # wide renderings go one under the other, narrow ones side by side
    width = min(2.5 * aspect, 10 if column else 12 / len(panels))  # inches per panel
    height = width / aspect + 0.3  # room for the title
    if column:
        fig, axes = new_image_figure(len(panels), 1)
        fig.set_size_inches(width, height * len(panels))
    else:
        fig, axes = new_image_figure(1, len(panels))
        fig.set_size_inches(width * len(panels), height)
    for ax, i, panel in zip(axes.flat, picks, panels, strict=True):
        ax.imshow(panel)
        ax.set_title(f"{description} = {_label(values[i])}", fontsize=9)
    return fig


def slider(render: Callable, values, description: str = "value", n_static: int = 5):
    """Return a slider over `values` that shows render(value) -> Figure (a static strip without ipywidgets).

    Example: slider(lambda t: plot_images(decode(t)), np.linspace(0, 1, 21), "t").
    The first value is rendered at once, so a broken render fails here, not later.
    """
    if not callable(render):
        raise TypeError(f"render must be a function value -> matplotlib Figure, got {type(render).__name__}")
    if not isinstance(description, str):
        raise TypeError(f"description must be a str, got {type(description).__name__}")
    values = _checked_values(values)
    try:
        import ipywidgets
    except ImportError:
        print(NO_WIDGETS)
        return static_strip(render, values, description, n=n_static)
    from IPython.display import Image, display

    first = [_render_png(render, values[0])]  # fails early, outside the widget's output area

    def show(value):
        # ipywidgets 8 calls this at once, ipywidgets 7 when the widget is first displayed.
        png = first.pop() if first and value == values[0] else _render_png(render, value)
        display(Image(data=png))

    labels = [_label(v) for v in values]
    if len(set(labels)) < len(labels):  # SelectionSlider needs distinct labels
        labels = [repr(v) for v in values]
    control = ipywidgets.SelectionSlider(options=list(zip(labels, values, strict=True)),
                                         index=0, description=description,
                                         continuous_update=True)
    return ipywidgets.interactive(show, value=control)
