"""Grading with nbgrader, headless, as README.md's "For instructors" section describes it.

A course directory is set up in a temporary folder from solutions/; the assignments are
released, submissions placed where `nbgrader collect` puts them, autograded with a short
per-cell timeout and exported to grades.csv. Takes about two minutes on two CPU cores.
"""

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("nbgrader")

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60  # seconds per cell: the setup cell imports torch (a few s), a check or an experiment up to ~30 s under load
LESSON1 = "01_linear_autoencoder_vs_pca_exercises"
OTHERS = sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb") if p.stem != LESSON1)
# Lesson 01 gets every kind of student; each other assignment a full and a blank submission.
STUDENTS = {LESSON1: ("full", "blank", "partial", "loops"), **dict.fromkeys(OTHERS, ("full", "blank"))}


def _cells(name: str) -> list[dict]:
    return json.loads((ROOT / "solutions" / f"{name}.ipynb").read_text())["cells"]


def _meta(cell: dict) -> dict:
    return cell["metadata"].get("nbgrader", {})


def _points(name: str, manual: bool) -> float:
    """Return the points of the auto-graded check cells (manual=False) or of the written answers (True)."""
    return sum(_meta(c).get("points", 0) for c in _cells(name)
               if _meta(c).get("grade") and (c["cell_type"] == "markdown") == manual)


def _function_answers(name: str) -> list[tuple[str, str, float]]:
    """Return (grade_id, function name, points of its check) for the answer cells that define a function."""
    cells, found = _cells(name), []
    for cell, check in zip(cells, cells[1:], strict=False):
        m = re.search(r"^def (\w+)\(", "".join(cell["source"]), re.M)
        if _meta(cell).get("solution") and cell["cell_type"] == "code" and m:
            found.append((_meta(cell)["grade_id"], m[1], _meta(check)["points"]))
    return found


def _nbgrader(course: Path, *args: str) -> str:
    """Run one nbgrader command in the course directory; return its log."""
    bin_dir = str(Path(sys.executable).parent)  # nbgrader runs `alembic` from the environment
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))
    out = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                         capture_output=True, text=True, timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{log[-4000:]}"
    return log


def _answer(source: str) -> str:
    """Return a solution cell as a learner would write it: the markers gone, the code kept."""
    return "\n".join(line for line in source.split("\n") if "### BEGIN SOLUTION" not in line
                     and "### END SOLUTION" not in line)


def _submission(name: str, student: str) -> dict:
    """Return the notebook a student hands in: the exercise, with some cells answered."""
    solution = json.loads((ROOT / "solutions" / f"{name}.ipynb").read_text())
    if student == "full":
        return solution
    answers = {c["metadata"]["nbgrader"]["grade_id"]: _answer("".join(c["source"]))
               for c in solution["cells"] if c["metadata"].get("nbgrader", {}).get("solution")}
    functions = _function_answers(name)
    if student == "partial":  # the first two functions right, nothing else attempted
        answers = {grade_id: answers[grade_id] for grade_id, _, _ in functions[:2]}
    elif student == "loops":  # the first function never returns
        grade_id, function, _ = functions[0]
        answers = {grade_id: f"def {function}(*args, **kwargs):\n    while True:  # a loop that never stops\n        pass\n"}
    else:
        answers = {}
    exercise = json.loads((ROOT / "exercises" / f"{name}.ipynb").read_text())
    for cell in exercise["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers[grade_id]
    return exercise


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """Release, collect, autograde and export every assignment; return (course dir, grades, logs)."""
    course = tmp_path_factory.mktemp("course")
    (course / "nbgrader_config.py").write_text('c = get_config()  # noqa: F821\n'
                                               'c.CourseDirectory.course_id = "aecourse"\n')
    logs = {}
    for name, students in STUDENTS.items():
        (course / "source" / name).mkdir(parents=True)
        (course / "source" / name / f"{name}.ipynb").write_bytes((ROOT / "solutions" / f"{name}.ipynb").read_bytes())
        _nbgrader(course, "generate_assignment", name)
        for student in students:
            folder = course / "submitted" / student / name
            folder.mkdir(parents=True)
            (folder / f"{name}.ipynb").write_text(json.dumps(_submission(name, student), indent=1))
        logs[name] = _nbgrader(course, "autograde", name, f"--ExecutePreprocessor.timeout={TIMEOUT}")
    _nbgrader(course, "export")
    with open(course / "grades.csv", newline="") as f:
        grades = {(row["assignment"], row["student_id"]): (float(row["score"]), float(row["max_score"]))
                  for row in csv.DictReader(f)}
    return course, grades, logs


def _outputs(course: Path, student: str, name: str) -> dict:
    """Return {grade_id: outputs} of a student's autograded notebook (nbgrader drops the grade_id of
    ordinary cells, such as an experiment's scratch cell, which are not graded)."""
    nb = json.loads((course / "autograded" / student / name / f"{name}.ipynb").read_text())
    return {c["metadata"]["nbgrader"]["grade_id"]: c.get("outputs", [])
            for c in nb["cells"] if c["cell_type"] == "code" and "grade_id" in c["metadata"].get("nbgrader", {})}


@pytest.mark.parametrize("name", STUDENTS)
def test_release_is_the_committed_exercise_notebook(course, name):
    released = course[0] / "release" / name / f"{name}.ipynb"
    assert released.read_bytes() == (ROOT / "exercises" / f"{name}.ipynb").read_bytes()


@pytest.mark.parametrize("name", STUDENTS)
def test_solutions_get_every_automatic_point_and_wait_for_the_instructor(course, name):
    score, max_score = course[1][(name, "full")]
    auto, manual = _points(name, manual=False), _points(name, manual=True)
    assert manual > 0 and max_score == auto + manual and score == auto


@pytest.mark.parametrize("name", STUDENTS)
def test_written_answers_are_left_for_the_instructor(course, name):
    from nbgrader.api import Gradebook

    written = {_meta(c)["grade_id"] for c in _cells(name) if c["cell_type"] == "markdown" and _meta(c).get("grade")}
    assert written
    with Gradebook(f"sqlite:///{course[0] / 'gradebook.db'}") as gb:
        submission = gb.find_submission_notebook(name, name, "full")
        grades = {g.name: g for g in submission.grades}
        for grade_id in written:
            assert grades[grade_id].needs_manual_grade and grades[grade_id].auto_score is None, grade_id
        auto = [g for g in grades.values() if g.name not in written]
        assert auto and not any(g.needs_manual_grade for g in auto)


def _shown(output: dict) -> str:
    """What an output shows the student: printed text, or an error's diagnosis."""
    return "".join(output.get("text", "")) + output.get("evalue", "")


@pytest.mark.parametrize("name", STUDENTS)
def test_untouched_exercises_are_graded_zero(course, name):
    assert course[1][(name, "blank")] == (0.0, _points(name, False) + _points(name, True))
    for grade_id, outputs in _outputs(course[0], "blank", name).items():
        if grade_id.startswith("check_"):
            assert any("not written yet" in _shown(o) for o in outputs), grade_id


def test_partial_submission_gets_its_exact_score(course):
    first, second = _function_answers(LESSON1)[:2]
    assert course[1][(LESSON1, "partial")] == (first[2] + second[2],
                                               _points(LESSON1, False) + _points(LESSON1, True))


def test_endless_loop_is_stopped_by_the_timeout_and_scores_zero(course):
    course_dir, grades, logs = course
    assert grades[(LESSON1, "loops")][0] == 0.0
    assert re.search(rf"Timeout waiting for execute reply \({TIMEOUT}s\)", logs[LESSON1])
    outputs = _outputs(course_dir, "loops", LESSON1)
    grade_id = _function_answers(LESSON1)[0][0]
    check = next(g for g in outputs if g.startswith("check_") and g != grade_id and
                 list(outputs).index(g) == list(outputs).index(grade_id) + 1)
    assert "CellTimeoutError" in [o.get("ename") for o in outputs[check]]
    # The notebook went on after the interrupted cell: a later check says its answer is not written yet.
    later = list(outputs)[list(outputs).index(check) + 1:]
    assert any("not written yet" in _shown(o) for g in later if g.startswith("check_") for o in outputs[g])
