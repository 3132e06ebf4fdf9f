"""Results tables that render as tables in Jupyter (Markdown), never as printed pipe text."""

from __future__ import annotations

from collections.abc import Sequence


def markdown_table(header: Sequence, rows: Sequence[Sequence]) -> str:
    """Return a Markdown table of rows (sequences of cells, any type) under header."""
    header = [str(h) for h in header]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for i, row in enumerate(rows):
        cells = [str(cell).replace("|", "\\|").replace("\n", " ") for cell in row]
        if len(cells) != len(header):
            raise ValueError(f"row {i} has {len(cells)} cells but the header has {len(header)} columns: "
                             f"{cells}; give every row one cell per column")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def show_table(header: Sequence, rows: Sequence[Sequence]) -> None:
    """Display rows under header as a rendered Markdown table (first used in lesson 08)."""
    from IPython.display import Markdown, display

    display(Markdown(markdown_table(header, rows)))
