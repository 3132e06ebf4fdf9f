"""Exercise notebooks: generated from solutions/, well formed, and failing only where a learner must write code."""

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader")
from nbclient import NotebookClient  # noqa: E402

from aecourse import exercises  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
HEADING = re.compile(r"^### Exercise (\d+)\.(\d+) — (?P<kind>build|derive|predict|experiment|question): .+ "
                     r"\((★{1,3}), ~\d+ min\)$", re.M)


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def test_exercises_are_generated_from_the_solutions():
    assert SOLUTIONS, "solutions/ holds no notebooks"
    assert sorted(p.name for p in (ROOT / "exercises").glob("*.ipynb")) == [p.name for p in SOLUTIONS]
    for solution in SOLUTIONS:
        committed = (ROOT / "exercises" / solution.name).read_text(encoding="utf-8")
        assert committed == exercises.exercise_text(solution), (
            f"exercises/{solution.name} is stale. Fix: python -m aecourse generate-exercises")


def test_generation_is_deterministic_and_check_mode_changes_nothing(tmp_path):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "exercises").mkdir()
    source = SOLUTIONS[0]
    (tmp_path / "solutions" / source.name).write_bytes(source.read_bytes())
    (tmp_path / "exercises" / "99_orphan.ipynb").write_text("{}")
    assert len(exercises.generate(tmp_path / "solutions", tmp_path / "exercises", check=True)) == 2
    assert not (tmp_path / "exercises" / source.name).exists()
    exercises.generate(tmp_path / "solutions", tmp_path / "exercises")
    assert [p.name for p in (tmp_path / "exercises").iterdir()] == [source.name]
    first = (tmp_path / "exercises" / source.name).read_text()
    assert exercises.generate(tmp_path / "solutions", tmp_path / "exercises", check=True) == []
    assert first == exercises.exercise_text(source)


def test_command_line_reports_in_sync():
    out = subprocess.run([sys.executable, "-m", "aecourse", "generate-exercises", "--check"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "up to date" in out.stdout


KINDS = ("build", "derive", "predict", "experiment", "question")


def _tasks(nb) -> list[dict]:
    """Return the notebook's tasks in order: number, kind, and the graded cells under its heading."""
    tasks = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for m in HEADING.finditer(cell.source):
                tasks.append({"number": m.groups()[:2], "kind": m["kind"], "cells": []})
        meta = _nbgrader(cell)
        if meta.get("grade") or meta.get("solution"):
            assert tasks, f"cell {meta.get('grade_id')} is graded but comes before any exercise heading"
            tasks[-1]["cells"].append(cell)
    return tasks


def _points(cells, manual: bool) -> float:
    return sum(_nbgrader(c).get("points", 0) for c in cells
               if _nbgrader(c).get("grade") and (c.cell_type == "markdown") == manual)


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_solution_notebook_follows_the_exercise_anatomy(solution):
    nb = nbformat.read(solution, as_version=4)
    stem, number = solution.stem.removesuffix("_exercises"), str(int(solution.stem[:2]))
    intro = nb.cells[0].source
    assert intro.startswith(f"# Exercises {stem[:2]} · ") and f"](../notebooks/{stem}.ipynb)" in intro
    minutes = re.search(r"\*\*Time:\*\* about (\d+) minutes", intro)
    assert minutes and 30 <= int(minutes[1]) <= 60, "an exercise notebook is 30-60 minutes of work"
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert 'if "google.colab" in sys.modules:\n    %pip install' in setup.source
    assert "from aecourse import checks" in setup.source
    tasks = _tasks(nb)
    assert [t["number"] for t in tasks] == [(number, str(i)) for i in range(1, len(tasks) + 1)]
    ids = set()
    for i, cell in enumerate(nb.cells):
        meta = _nbgrader(cell)
        assert meta, f"cell {cell.id} has no nbgrader metadata"
        assert meta["grade_id"] not in ids
        ids.add(meta["grade_id"])
        assert not cell.get("outputs") and not cell.get("execution_count")
        if meta["solution"] and cell.cell_type == "code":
            # An answer cell: the learner's region, then its locked, graded check cell.
            assert "### BEGIN SOLUTION" in cell.source, cell.source
            check = nb.cells[i + 1]
            assert _nbgrader(check)["grade"] and _nbgrader(check)["locked"] and _nbgrader(check)["points"] > 0
            assert check.source.startswith("checks.check_"), check.source
            if re.search(r"^def \w+\(", cell.source, re.M):  # a function: signature, docstring, hidden tests
                assert '"""' in cell.source and "### BEGIN HIDDEN TESTS" in check.source, cell.source
        elif meta["solution"]:
            # A written answer, graded by hand: a model answer and a marking note for the instructor.
            assert meta["grade"] and not meta["locked"] and meta["points"] > 0, meta
            assert cell.source.startswith("**Model answer.**") and "**Marking note.**" in cell.source
        elif meta["grade"]:
            assert cell.cell_type == "code" and _nbgrader(nb.cells[i - 1])["solution"], (
                f"graded cell {meta['grade_id']} does not follow an answer cell")


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_exercises_mix_the_four_kinds_of_task_with_written_questions(solution):
    """Build at most a third of the points; derive, predict and experiment each at least once; 2-3 written answers."""
    tasks = _tasks(nbformat.read(solution, as_version=4))
    points = {kind: 0.0 for kind in KINDS}
    for task in tasks:
        points[task["kind"]] += _points(task["cells"], manual=False) + _points(task["cells"], manual=True)
    total = sum(points.values())
    assert points["build"] <= total / 3, f"build tasks carry {points['build']} of {total} points"
    for kind in ("derive", "predict", "experiment"):
        assert points[kind] > 0, f"no graded {kind} task"
    written = [c for t in tasks for c in t["cells"] if c.cell_type == "markdown"]
    assert 2 <= len(written) <= 3, f"{len(written)} written answers, expected two or three"


def _run(path: Path, tmp_path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb


def _errors(cell) -> list:
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_exercise_runs_and_fails_only_where_the_learner_writes_code(solution, tmp_path):
    nb = _run(ROOT / "exercises" / solution.name, tmp_path)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        errors, meta = _errors(cell), _nbgrader(cell)
        if meta.get("solution"):
            # An answer cell: a function's stub runs; a stub at the top level stops with NotImplementedError.
            assert [e.ename for e in errors] in ([], ["NotImplementedError"]), (cell.source, errors)
        elif meta.get("grade"):
            # A check cell of an unanswered exercise: the check says so, in one line, and fails.
            assert [e.ename for e in errors] == ["CheckFailed"], (cell.source, errors)  # an AssertionError
            assert "/checks/" not in "".join(errors[0].traceback), "the check's frames would show the answers"
            printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            assert printed == "", f"the diagnosis is shown once, as the error, not printed too: {printed}"
            assert errors[0].evalue.startswith("✗ ") and "not written yet" in errors[0].evalue, errors[0].evalue
        else:
            assert not errors, f"cell {cell.id} failed:\n{cell.source}\n{json.dumps(errors, indent=1)[:2000]}"


def test_a_wrong_answer_gets_its_diagnosis_in_the_notebook(tmp_path):
    path = ROOT / "exercises" / SOLUTIONS[0].name
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if _nbgrader(c).get("grade_id") == "training_step")
    cell.source = cell.source.replace("    # YOUR CODE HERE\n    raise NotImplementedError()", (
        "    loss = torch.nn.functional.mse_loss(model(x), x)\n"
        "    optimizer.zero_grad()\n    loss.backward()\n    optimizer.step()\n    return loss.item()"))
    target = tmp_path / path.name
    nbformat.write(nb, target)
    executed = _run(target, tmp_path)
    check = next(c for c in executed.cells if _nbgrader(c).get("grade_id") == "check_training_step")
    shown = [o.evalue for o in check.outputs if o.output_type == "error"]
    assert len(shown) == 1 and shown[0].startswith("✗ training_step: averaged over pixels too"), shown
