"""Links that work where a notebook runs: in JupyterLab from a clone, and on Colab.

On Colab a notebook opens alone, so a relative link to another notebook leads nowhere
there. Every relative link to a notebook is therefore followed by its Colab twin, and a
link to a page (the README, docs/) by its GitHub twin. This module holds the one place
with the repository's address; `python -m aecourse links` rewrites the badges, the Colab
install line and the twins from it (maintainers; `--check` only reports, as the tests do).
"""

from __future__ import annotations

import json
import posixpath
import re
from pathlib import Path

REPOSITORY = "aecourse/aecourse"  # GitHub owner/name: the one place that holds the course's address
BRANCH = "main"
ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("notebooks", "notebooks/keras", "solutions", "exercises")

_BADGE = re.compile(r"https://colab\.research\.google\.com/github/[^/\s)]+/[^/\s)]+/blob/[^/\s)]+/[^)\s]+\.ipynb")
_INSTALL = re.compile(r"aecourse @ git\+https://github\.com/[^\s\"']+")
# a relative link, then its twin if it has one already
_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(((?![a-zA-Z][a-zA-Z0-9+.-]*:|#|/)[^)\s]+)\)"
                   r"(?: \[\((?:Colab|GitHub)\)\]\([^)\s]+\))?")


def colab_url(rel: str) -> str:
    """Return the Colab address of the repository file `rel` (e.g. notebooks/03_sparse_autoencoders.ipynb)."""
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/{rel}"


def github_url(rel: str) -> str:
    """Return the GitHub address of the repository file or folder `rel`."""
    return f"https://github.com/{REPOSITORY}/{'tree' if not Path(rel).suffix else 'blob'}/{BRANCH}/{rel}"


def _with_twin(match: re.Match, where: Path) -> str:
    text, target = match.group(1), match.group(2)
    path = target.split("#")[0]
    rel = posixpath.normpath((where.parent / path).as_posix())  # a/b/../c -> a/c, no file system
    if text.startswith("`") and text.endswith("`") and "/" in text:  # a path styled as code: make it look like a link
        text = text.strip("`")
    link = f"[{text}]({target})"
    if not path:
        return link
    if rel.endswith(".ipynb"):
        return f"{link} [(Colab)]({colab_url(rel)})"
    return f"{link} [(GitHub)]({github_url(rel)})"


def rewrite(text: str, where: Path, markdown: bool) -> str:
    """Return a cell's source with badge, install line and twins made from REPOSITORY.

    A solution notebook is the source of its exercise notebook, so its links are made for
    the exercise's place in exercises/.
    """
    if where.parts[0] == "solutions":
        where = Path("exercises", *where.parts[1:])
    text = _BADGE.sub(lambda m: colab_url(where.as_posix()), text)
    text = _INSTALL.sub(f"aecourse @ git+https://github.com/{REPOSITORY}", text)
    return _LINK.sub(lambda m: _with_twin(m, where), text) if markdown else text


def notebooks(root: Path = ROOT) -> list[Path]:
    """Return the course's notebooks, relative to root."""
    return [p.relative_to(root) for folder in FOLDERS for p in sorted((root / folder).glob("*.ipynb"))]


def run(check: bool = False, root: Path = ROOT, folders: tuple[str, ...] = FOLDERS) -> int:
    """Rewrite (or, with check, list) the notebooks whose links are not made from REPOSITORY."""
    stale = []
    for rel in notebooks(root):
        if rel.parent.as_posix() not in folders:
            continue
        path = root / rel
        nb = json.loads(path.read_text(encoding="utf-8"))
        changed = False
        for cell in nb["cells"]:
            old = "".join(cell["source"])
            new = rewrite(old, rel, cell["cell_type"] == "markdown")
            if new != old:
                cell["source"] = new.splitlines(keepends=True)
                changed = True
        if changed:
            stale.append(rel.as_posix())
            if not check:
                path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                                encoding="utf-8")
    verb = "differ from what REPOSITORY gives" if check else "rewritten"
    print(f"{len(stale)} notebooks {verb}" + "".join(f"\n  {s}" for s in stale))
    return 1 if check and stale else 0
