"""`python -m aecourse copy`: copy lessons and exercises into a folder of the learner's own.

JupyterLab saves answers and outputs into the notebook it has open. Working on copies in
`my-work/` (which git ignores) keeps the course's own notebooks clean, so a later `git pull`
brings updates without conflicts. The copies keep the course's layout, so links between
copied notebooks work as they are; a relative link to a file that was not copied is rewritten
to point at the course's original. Nothing here needs anything beyond the standard library.
"""

from __future__ import annotations

import json
import os
import platform
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DEST = ROOT / "my-work"
SOURCES = ("notebooks", "notebooks/keras", "exercises")  # solutions/ stay where they are
# What JupyterLab writes into a notebook when ipykernel's "python3" kernel starts. A notebook that
# already holds exactly this is not marked modified on opening; the course's own notebooks hold it
# for the reference machine's Python, and copies get the Python that makes them.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def language_info(version: str | None = None) -> dict:
    """Return the language_info ipykernel reports for Python `version` (default: this Python)."""
    return {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
            "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
            "pygments_lexer": "ipython3", "version": version or platform.python_version()}

# [text](target) or ![alt](target), and href="target" / src="target" in HTML
_LINK = re.compile(r"(\]\()([^)\s]+)(\))|((?:href|src)=\")([^\"]+)(\")")


def course_notebooks(root: Path = ROOT) -> list[Path]:
    """Return every notebook a learner may copy, relative to `root`, in course order."""
    found = [p.relative_to(root) for folder in SOURCES for p in sorted((root / folder).glob("*.ipynb"))]
    if not found:
        raise FileNotFoundError(f"found no notebooks in {', '.join(SOURCES)} under {root}: "
                                "run this from a clone of the course repository")
    return found


def select(lessons: list[str], root: Path = ROOT) -> list[Path]:
    """Return the notebooks of the given lesson numbers ("3", "03"), or all of them if none given."""
    everything = course_notebooks(root)
    if not lessons:
        return everything
    chosen = []
    for lesson in lessons:
        if not re.fullmatch(r"\d{1,2}", lesson):
            raise ValueError(f"expected lesson numbers such as 03 or 3, got {lesson!r}; "
                             "fix: python -m aecourse copy 03 08 (or no number for every lesson)")
        hits = [p for p in everything if p.name.startswith(f"{int(lesson):02d}_")]
        if not hits:
            numbers = sorted({p.name[:2] for p in everything})
            raise ValueError(f"there is no lesson {lesson}; the lessons are {', '.join(numbers)}")
        chosen += [p for p in hits if p not in chosen]
    return chosen


def _relink(text: str, source: Path, copied: set[Path], root: Path, dest: Path) -> str:
    """Point relative links of `source` (relative to `root`) at a copy if there is one, else at the original."""
    def fix(match: re.Match) -> str:
        head, target, tail = (match.group(1, 2, 3) if match.group(1) else match.group(4, 5, 6))
        path, hash_, anchor = target.partition("#")
        if not path or re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:|/", path):  # anchor, URL or absolute
            return match.group(0)
        target_rel = Path(os.path.normpath(source.parent / path))
        if target_rel in copied or any(target_rel in p.parents for p in copied):  # a copy, or a folder of copies
            return match.group(0)
        new = os.path.relpath(root / target_rel, (dest / source).parent)
        return f"{head}{Path(new).as_posix()}{hash_}{anchor}{tail}"

    return _LINK.sub(fix, text)


def copy(lessons: list[str], dest: Path = DEFAULT_DEST, root: Path = ROOT) -> tuple[list[Path], list[Path]]:
    """Copy the chosen notebooks under `dest`; return (copied, kept): a copy that exists is never overwritten."""
    chosen = select(lessons, root)
    dest = Path(dest).resolve()
    existing = {p for p in course_notebooks(root) if (dest / p).exists()}
    copied_after = set(chosen) | existing
    done, kept = [], []
    for rel in chosen:
        target = dest / rel
        if target.exists():
            kept.append(rel)
            continue
        nb = json.loads((root / rel).read_text(encoding="utf-8"))
        nb["metadata"].update(kernelspec=dict(KERNELSPEC), language_info=language_info())
        for cell in nb["cells"]:
            if cell["cell_type"] == "markdown":
                text = "".join(cell["source"])
                new = _relink(text, rel, copied_after, root, dest)
                if new != text:
                    cell["source"] = new.splitlines(keepends=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                          encoding="utf-8")
        done.append(rel)
    return done, kept


def run(lessons: list[str], dest: Path = DEFAULT_DEST) -> int:
    """Copy, then say what was copied, what was kept, and where to open it."""
    try:
        done, kept = copy(lessons, dest)
    except (ValueError, FileNotFoundError) as err:
        print(f"aecourse copy: {err}")
        return 2
    dest = Path(dest).resolve()
    shown = dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest
    for rel in done:
        print(f"  copied  {shown / rel}")
    for rel in kept:
        print(f"  kept    {shown / rel} (your copy exists; delete or rename it to copy afresh)")
    if done:
        print(f"\nOpen your copies from {shown}/ in JupyterLab: your answers and outputs are saved "
              "there, and `git pull` never touches them.")
    return 0
