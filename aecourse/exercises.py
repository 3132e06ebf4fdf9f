"""Generate exercises/ from solutions/ with nbgrader's own preprocessors.

`python -m aecourse generate-exercises` rewrites every exercises/NN_topic.ipynb from
solutions/NN_topic.ipynb exactly as `nbgrader generate_assignment` releases it: solution
regions become `raise NotImplementedError()` stubs, hidden tests disappear, outputs are
cleared, cells are locked and checksummed. `--check` changes nothing and exits 1 when
exercises/ is stale. nbgrader is imported here only, so `aecourse` works without it.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"


def _preprocessors() -> list:
    """Return nbgrader's generate_assignment pipeline, less the steps that need a course database."""
    try:
        from nbgrader.preprocessors import (
            CheckCellMetadata,
            ClearHiddenTests,
            ClearMarkScheme,
            ClearOutput,
            ClearSolutions,
            ComputeChecksums,
            LockCells,
        )
    except ImportError as err:
        raise SystemExit(f"generating the exercises needs nbgrader ({err}). "
                         "Fix: pip install -e '.[dev]' (or pip install nbgrader).") from None
    # Same order as nbgrader's GenerateAssignment (minus IncludeHeaderFooter, InstantiateTests, SaveCells).
    return [LockCells(), ClearSolutions(), ClearOutput(), CheckCellMetadata(), ComputeChecksums(),
            ClearHiddenTests(), ClearMarkScheme(), ComputeChecksums(), CheckCellMetadata()]


def exercise_text(solution: Path) -> str:
    """Return the exercise notebook generated from one solution notebook, as JSON text."""
    import nbformat

    nb = nbformat.read(solution, as_version=4)
    resources: dict = {}
    for step in _preprocessors():
        nb, resources = step.preprocess(nb, resources)
    return nbformat.writes(nb) + "\n"


def generate(solutions: Path = SOLUTIONS, exercises: Path = EXERCISES, check: bool = False) -> list[str]:
    """Write exercises/ from solutions/ (with check=True, only compare); return the stale files."""
    if not solutions.is_dir() or not exercises.is_dir():
        raise SystemExit(f"expected the folders {solutions} and {exercises}: run this from a clone of the "
                         "course repository, installed with pip install -e .")
    wanted = {path.name: exercise_text(path) for path in sorted(solutions.glob("*.ipynb"))}
    stale = []
    for name, text in wanted.items():
        target = exercises / name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            why = "out of date" if target.exists() else "missing"
            stale.append(f"{exercises.name}/{name} ({why}; generated from {solutions.name}/{name})")
            if not check:
                target.write_text(text, encoding="utf-8")
    for orphan in sorted({p.name for p in exercises.glob("*.ipynb")} - set(wanted)):
        stale.append(f"{exercises.name}/{orphan} (no {solutions.name}/{orphan} to generate it from)")
        if not check:
            (exercises / orphan).unlink()
    return stale


def run(check: bool = False) -> int:
    """Regenerate exercises/ (or, with check, report what is stale); return the exit status."""
    stale = generate(check=check)
    for line in stale:
        print(("stale: " if check else "rewrote: ") + line)
    if check and stale:
        print("Fix: python -m aecourse generate-exercises")
        return 1
    if not stale:
        print("exercises/ is up to date with solutions/")
    return 0
