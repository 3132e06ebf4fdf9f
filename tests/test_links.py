"""Links that work in JupyterLab and on Colab, all made from one repository address."""

import json
from pathlib import Path

from aecourse import links

ROOT = Path(__file__).resolve().parent.parent


def test_every_notebook_s_links_are_made_from_the_one_address(capsys):
    assert links.run(check=True) == 0, capsys.readouterr().out


def test_a_relative_link_gets_its_twin_once_and_a_moved_repository_moves_every_link(tmp_path, monkeypatch):
    (tmp_path / "notebooks").mkdir()
    cell = {"cell_type": "markdown", "id": "a", "metadata": {}, "source": [
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        "(https://colab.research.google.com/github/old/place/blob/main/notebooks/x.ipynb)\n",
        "See [lesson 03](03_sparse.ipynb#Recap), [`exercises/03_sparse.ipynb`](../exercises/03_sparse.ipynb), "
        "the [README](../README.md), [this section](#Setup) and ![a figure](fig.png)."]}
    code = {"cell_type": "code", "id": "b", "metadata": {}, "execution_count": None, "outputs": [],
            "source": ['%pip install --quiet "aecourse @ git+https://github.com/old/place"']}
    nb = {"cells": [cell, code], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "notebooks/x.ipynb"
    path.write_text(json.dumps(nb))
    monkeypatch.setattr(links, "REPOSITORY", "new/home")
    assert links.run(root=tmp_path, folders=("notebooks",)) == 0
    assert links.run(check=True, root=tmp_path, folders=("notebooks",)) == 0  # idempotent
    out = json.loads(path.read_text())["cells"]
    text = "".join(out[0]["source"])
    colab = "https://colab.research.google.com/github/new/home/blob/main/"
    assert f"({colab}notebooks/x.ipynb)" in text
    assert f"[lesson 03](03_sparse.ipynb#Recap) [(Colab)]({colab}notebooks/03_sparse.ipynb)" in text
    assert f"[exercises/03_sparse.ipynb](../exercises/03_sparse.ipynb) [(Colab)]({colab}exercises/03_sparse.ipynb)" in text
    assert "[README](../README.md) [(GitHub)](https://github.com/new/home/blob/main/README.md)" in text
    assert "[this section](#Setup) and ![a figure](fig.png)." in text
    assert "git+https://github.com/new/home\"" in "".join(out[1]["source"])
