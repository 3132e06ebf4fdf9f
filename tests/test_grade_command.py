"""`python -m aecourse grade` against attacks and honest work, on a tiny synthetic assignment.

One course directory is made in a temporary folder: an assignment of three graded tasks. Two
use the course's own checks, which the grader confirms outside the kernel
(aecourse.grading_probes): a KL function (exercise 8.2's check, 2 points) and a prediction
(exercise 8.4's, 1 point). The third, a doubling function (1 point), has a check written with
aecourse.checks.core and no outside probe. Honest students (some of whose
answers raise warnings) must score 4 of 4; each attacker tries one thing from issue 24, and
must fail or be flagged; every student must appear in the report. The whole grading runs
once, sandboxed (as root: an unprivileged user in a private mount namespace), in about
three minutes on two CPU cores. A second, smaller assignment grades exercise 2.4's check of a
trained model, which the grader rebuilds and measures itself (aecourse.grading_models).
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("nbgrader")
nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parent.parent
NAME = "tiny"
TOTAL = 4.0
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox drops each kernel to another user, "
                                "which needs root (CI runs as root); as a user, bubblewrap mode applies")

SETUP = "import torch\nfrom aecourse import checks\nfrom aecourse.checks.core import call, diagnose, expect_tensor, passed"
KL_ANSWER = ("def kl(mu_q, log_var_q, mu_p, log_var_p):\n    return 0.5 * (log_var_p - log_var_q + (log_var_q.exp() "
             "+ (mu_q - mu_p) ** 2) / log_var_p.exp() - 1).sum(dim=1)\n")
DOUBLE_ANSWER = "def double(x):\n    return x + x\n"
CHOICE_ANSWER = 'answer = "A"\n'
CHECK_KL = '''checks.check_kl_diag_gaussians(kl)
### BEGIN HIDDEN TESTS
checks.check_kl_diag_gaussians(kl, seed=1)
### END HIDDEN TESTS'''
CHECK_DOUBLE = '''x = torch.arange(4.0)
diagnose("double", expect_tensor("double", call("double", double, x=x), (4,)), 2 * x, [], "on arange(4)")
passed("double", "doubles")'''
CHECK_CHOICE = "checks.check_prediction_8_4(answer)"


def _cell(kind: str, source: str, grade_id: str | None = None, points: int = 0, solution: bool = False):
    cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
    if grade_id:
        cell.metadata["nbgrader"] = {"grade": points > 0, "grade_id": grade_id, "locked": not solution,
                                     "schema_version": 3, "solution": solution, "task": False,
                                     **({"points": points} if points else {})}
    return cell


def _solution_cell(answer: str) -> str:
    head, _, body = answer.partition("\n")
    if head.startswith("def "):
        return f"{head}\n    ### BEGIN SOLUTION\n{body.rstrip()}\n    ### END SOLUTION\n"
    return f"### BEGIN SOLUTION\n{answer.rstrip()}\n### END SOLUTION\n"


def _source() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                          "language": "python"}})
    nb.cells = [_cell("markdown", "# A tiny assignment", "intro"), _cell("code", SETUP, "setup"),
                _cell("code", _solution_cell(KL_ANSWER), "kl", solution=True),
                _cell("code", CHECK_KL, "check_kl", points=2),
                _cell("code", _solution_cell(DOUBLE_ANSWER), "double", solution=True),
                _cell("code", CHECK_DOUBLE, "check_double", points=1),
                _cell("code", _solution_cell(CHOICE_ANSWER), "choice", solution=True),
                _cell("code", CHECK_CHOICE, "check_choice", points=1)]
    return nb


ANSWERS = {"kl": KL_ANSWER, "double": DOUBLE_ANSWER, "choice": CHOICE_ANSWER}
WRONG = {"kl": "def kl(mu_q, log_var_q, mu_p, log_var_p):\n    return mu_q.sum(dim=1)\n",
         "double": "def double(x):\n    return x\n", "choice": 'answer = "B"\n'}
HIDDEN = "{course}"  # replaced by the course directory's path in the attacks below


def _submission(release: Path, answers: dict, before: dict | None = None, extra: dict | None = None,
                edit=None) -> dict:
    """Return a released notebook answered with answers; extra code cells inserted before/after grade ids."""
    nb = json.loads(release.read_text())
    cells = []
    for cell in nb["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        for source in (before or {}).get(gid, []):
            cells.append({"cell_type": "code", "metadata": {}, "source": source, "outputs": [],
                          "execution_count": None})
        if gid in answers:
            cell["source"] = answers[gid]
        cells.append(cell)
        for source in (extra or {}).get(gid, []):
            cells.append({"cell_type": "code", "metadata": {}, "source": source, "outputs": [],
                          "execution_count": None})
    nb["cells"] = cells
    if edit:
        edit(nb)
    return nb


def _attacks(course: Path) -> dict:
    """Return {student: (answers, extra cells after grade ids, notebook edit)}; see each comment."""
    victim = course / "submitted" / "honest" / NAME / f"{NAME}.ipynb"
    probe = ("import os, pathlib\nfor p in [{paths}]:\n    try:\n"
             "        found = pathlib.Path(p).read_bytes() if os.path.isfile(p) else os.listdir(p)\n"
             "        print('READ' if found else 'BLOCKED', p, len(found))\n"
             "    except Exception as e:\n        print('BLOCKED', p, type(e).__name__)\n")
    secret = [str(course / "source" / NAME / f"{NAME}.ipynb"), str(course / "gradebook.db"), str(victim),
              str(ROOT / "solutions"), str(ROOT / "tests")]
    patch = ("import types\nimport aecourse.checks.core as core\ncore.diagnose = lambda *a, **k: None\n"
             "core.expect_tensor = lambda name, out, *a, **k: out\ncore.check_choice = lambda *a, **k: None\n"
             "diagnose, expect_tensor = core.diagnose, core.expect_tensor\n"  # the names the double check uses
             "checks = types.SimpleNamespace(check_kl_diag_gaussians=lambda *a, **k: print('✓ kl'),\n"
             "                               check_prediction_8_4=lambda *a, **k: print('✓ prediction'))\n")
    transformer = ("get_ipython().input_transformers_cleanup.append(\n"
                   "    lambda lines: ['pass\\n'] if any('check' in l or 'diagnose' in l for l in lines) else lines)\n")
    references = ("from aecourse.checks.lesson08 import kl_diag_reference\n\n"
                  "def kl(mu_q, log_var_q, mu_p, log_var_p):\n    return kl_diag_reference(mu_q, log_var_q, mu_p, log_var_p)\n")
    writer = (f"import pathlib\nfor p in [{str(victim)!r}, {str(course / 'gradebook.db')!r}]:\n    try:\n"
              "        pathlib.Path(p).write_text('{}')\n        print('WROTE', p)\n    except Exception as e:\n"
              "        print('BLOCKED', p, type(e).__name__)\n")
    gradebook = (f"import sqlite3\ntry:\n    db = sqlite3.connect({str(course / 'gradebook.db')!r})\n"
                 "    db.execute('update grade set auto_score = 100')\n    db.commit()\n    print('WROTE')\n"
                 "except Exception as e:\n    print('BLOCKED', type(e).__name__)\n")
    lingering = ("import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', 'import time\\nwhile True: "
                 "time.sleep(0.2)'], start_new_session=True)\n")
    slow = "def double(x):\n    import time\n    time.sleep(600)\n"  # the timeout interrupts it inside the check
    loop = "import time\nwhile True:\n    try:\n        time.sleep(0.5)\n    except KeyboardInterrupt:\n        pass\n"

    def schema(nb):
        nb["cells"].insert(3, {"cell_type": "code", "metadata": {"nbgrader": {"schema_version": 99}},
                               "source": "x = 1", "outputs": [], "execution_count": None})

    def tamper_cells(nb):
        nb["cells"] = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") != "check_kl"]
        for c in nb["cells"]:
            if c["metadata"].get("nbgrader", {}).get("grade_id") == "check_double":
                c["source"] = "print('✓ double: sure')"

    def kernelspec(nb):
        nb["metadata"]["kernelspec"] = {"name": "python3", "display_name": "mine", "language": "python"}

    def restored(nb):  # the schema_version cell, a deleted and an edited check cell, another kernel
        schema(nb)
        tamper_cells(nb)
        kernelspec(nb)

    return {
        # Honest work, some of it noisy: warnings inside the answers and at top level, a print.
        "honest": (ANSWERS, {}, None),
        "honest_warnings": ({**ANSWERS, "kl": "import warnings\n" + KL_ANSWER.replace(
            "    return", "    warnings.warn('this is fine', DeprecationWarning)\n"
            "    float(torch.ones(1, requires_grad=True) * 1)\n    return")},
            {"setup": ["import warnings\nwarnings.warn('a top-level warning')\nprint('hello')"]}, None),
        # Faults in honest work: each costs at most the cell it is in.
        "fault_cells": (ANSWERS, {}, restored),
        "fault_exit": (ANSWERS, {"setup": ["exit()"], "check_kl": ["import os\nos._exit(0)"]}, None),
        "fault_resources": (ANSWERS, {"setup": [loop, "print('x' * 20_000_000)", "big = torch.ones(10**10)",
                                                "blob = bytearray(16 * 2**30)"]}, None),
        # Attacks with wrong answers: any point they get is forged.
        "attack_patch_checks": (WRONG, {"setup": [patch]}, None),
        "attack_transformer": (WRONG, {"setup": [transformer]}, None),
        "attack_references": ({**ANSWERS, "kl": references, "double": slow}, {}, None),
        # A tracer could jump over a check's fail(...) line: installing one is reported.
        "attack_tracer": (WRONG, {"setup": ["import sys\nsys.settrace(lambda frame, event, arg: None)"]}, None),
        # Graded first, so that what it leaves running meets the others.
        "a_attack_files": (WRONG, {"setup": [probe.format(paths=", ".join(map(repr, secret))), writer, gradebook,
                                             lingering]}, None),
    }


def _grade(course: Path, only: set | None = None, check: bool = False, source=None, attacks=None,
           **env_extra) -> tuple:
    """Release the assignment, hand in the submissions, grade them all once; return (course, report, rc)."""
    course.mkdir(parents=True, exist_ok=True)
    (course / "nbgrader_config.py").write_text('c = get_config()  # noqa: F821\nc.CourseDirectory.course_id = "t"\n')
    (course / "source" / NAME).mkdir(parents=True)
    nbformat.write(source or _source(), course / "source" / NAME / f"{NAME}.ipynb")
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
               **env_extra)
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", NAME], cwd=course, env=env,
                   check=True, capture_output=True)
    release = course / "release" / NAME / f"{NAME}.ipynb"
    for student, (answers, extra, edit) in (attacks or _attacks(course)).items():
        if only is None or student in only:
            folder = course / "submitted" / student / NAME
            folder.mkdir(parents=True)
            (folder / f"{NAME}.ipynb").write_text(json.dumps(_submission(release, answers, extra=extra, edit=edit)))
    if only is None and attacks is None:
        broken = course / "submitted" / "fault_invalid_json" / NAME
        broken.mkdir(parents=True)
        (broken / f"{NAME}.ipynb").write_text("{ this is not a notebook")
    handed_in = {p: p.read_bytes() for p in course.glob("submitted/*/*/*.ipynb")}
    out = subprocess.run([sys.executable, "-m", "aecourse", "grade", NAME, "--course", str(course),
                          "--cell-timeout", "20", "--notebook-timeout", "240", "--memory-mb", "3072"],
                         env=env, capture_output=True, text=True, timeout=1500, check=check)
    report = json.loads((course / f"grading-report-{NAME}.json").read_text())
    assert all(p.read_bytes() == b for p, b in handed_in.items()), "a submission was changed during grading"
    return course, {s["student"]: s for s in report["students"]}, out, report


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every submission, graded in the strongest sandbox (as root: another user, a mount namespace)."""
    return _grade(tmp_path_factory.mktemp("course"))


def _outputs(course: Path, student: str) -> str:
    nb = json.loads((course / "autograded" / student / NAME / f"{NAME}.ipynb").read_text())
    return json.dumps([c.get("outputs", []) for c in nb["cells"]])


def test_every_student_is_in_the_report_and_the_command_succeeds(graded):
    course, students, out, report = graded
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert set(students) == {p.name for p in (course / "submitted").iterdir()}
    assert report["sandbox"] in ("root", "uid"), report["sandbox"]  # uid: root without mount namespaces
    assert "Grading report" in out.stdout and (course / f"grading-report-{NAME}.txt").is_file()


@pytest.mark.parametrize("student", ["honest", "honest_warnings", "fault_cells", "fault_exit", "fault_resources"])
def test_honest_work_scores_full_marks(graded, student):
    result = graded[1][student]
    assert (result["status"], result["score"], result["max_score"]) == ("graded", TOTAL, TOTAL), result
    assert not [f for f in result["flagged"] if "tampering" in f], result["flagged"]


def test_warnings_are_named_on_stdout_and_cost_nothing(graded):
    text = _outputs(graded[0], "honest_warnings")
    assert "raised a warning (it costs nothing" in text


def test_restored_cells_and_stray_metadata_are_reported(graded):
    students = graded[1]
    restored = students["fault_cells"]["restored"]
    assert any("check_kl: deleted cell restored" in r for r in restored), restored
    assert any("check_double: edited locked cell restored" in r for r in restored), restored
    assert any("nbgrader metadata" in r for r in restored), restored


def test_dead_or_stuck_kernels_are_restarted_and_reported(graded):
    exits, resources = (" ".join(graded[1][s]["notes"]) for s in ("fault_exit", "fault_resources"))
    assert "kernel died" in exits, exits
    assert "did not stop when interrupted" in resources, resources


def test_large_output_is_cut(graded):
    course, students = graded[0], graded[1]
    assert any("output cut" in n for n in students["fault_resources"]["notes"])
    autograded = course / "autograded" / "fault_resources" / NAME / f"{NAME}.ipynb"
    assert autograded.stat().st_size < 500_000


@pytest.mark.parametrize("student", ["attack_patch_checks", "attack_transformer"])
def test_forged_checks_are_flagged(graded, student):
    result = graded[1][student]
    assert result["status"] == "graded"
    assert any("tampering detected" in f for f in result["flagged"]), result


def test_forged_passes_are_overruled_by_the_graders_own_comparison(graded):
    """Fake checks pass in the kernel; the grader's probes, run outside it, take the points back."""
    for student in ("attack_patch_checks", "attack_transformer"):
        result = graded[1][student]
        overruled = " ".join(f for f in result["flagged"] if "check overruled" in f)
        assert "check_kl" in overruled and "check_choice" in overruled, result
        # The double check has no outside probe (a check of the notebook's own): its forged point stands, flagged.
        assert result["score"] == 1, result
    nb = json.loads((graded[0] / "autograded" / "attack_patch_checks" / NAME / f"{NAME}.ipynb").read_text())
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "check_kl")
    assert "the grader's own comparison" in json.dumps(cell["outputs"])  # the student is told why


def test_honest_passes_are_confirmed_outside_the_kernel(graded):
    notes = " ".join(graded[1]["honest"]["notes"])
    assert "2 passed check(s) confirmed outside the kernel" in notes, notes
    assert "checked in the kernel only: check_double" in notes, notes


def test_a_tracer_is_reported_as_tampering(graded):
    flagged = " ".join(graded[1]["attack_tracer"]["flagged"])
    assert "tampering detected" in flagged and "sys.gettrace" in flagged, flagged


def test_calling_references_is_flagged(graded):
    assert any("reference code" in f for f in graded[1]["attack_references"]["flagged"])


def test_a_timeout_inside_a_check_shows_no_check_source(graded):
    nb = json.loads((graded[0] / "autograded" / "attack_references" / NAME / f"{NAME}.ipynb").read_text())
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "check_double")
    shown = json.dumps(cell["outputs"])
    assert "while a check was running" in shown and "core.py" not in shown, shown[:2000]
    # The prediction only: exercise 8.2's check refuses the library function that the reference calls.
    assert graded[1]["attack_references"]["score"] == 1


def test_secrets_other_submissions_and_the_gradebook_are_out_of_reach(graded):
    course, students = graded[0], graded[1]
    text = _outputs(course, "a_attack_files")
    assert "WROTE" not in text and text.count("BLOCKED") >= 3 + 3, text[:3000]  # read, written, the database
    read = [line for line in text.split("\\n") if "READ" in line]
    if graded[3]["sandbox"] == "uid":  # no mount namespace: only what permissions protect (the pytest folder)
        read = [line for line in read if str(course) in line]
    assert not read, read
    assert students["a_attack_files"]["score"] == 0 and students["honest"]["score"] == TOTAL
    with sqlite3.connect(course / "gradebook.db") as db:
        assert not db.execute("select count(*) from grade where auto_score >= 100").fetchone()[0]


def test_no_process_is_left_running(graded):
    from aecourse.sandbox import processes_of

    assert processes_of(65534) == []
    assert any("left running" in n for n in graded[1]["a_attack_files"]["notes"])


def test_an_invalid_notebook_is_listed_not_graded(graded):
    result = graded[1]["fault_invalid_json"]
    assert result["status"] == "not graded" and "invalid notebook" in result["reasons"][0]


def test_wrong_answers_score_zero(graded):
    for student in ("attack_patch_checks", "attack_transformer", "attack_tracer", "a_attack_files"):
        assert graded[1][student]["score"] == 0 or graded[1][student]["flagged"], student


def test_an_interrupt_inside_a_check_shows_no_check_source():
    """The stop button or a grading timeout during a check: the learner's frames and one line, no check code."""
    code = f'''
import importlib.util
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
spec = importlib.util.spec_from_file_location("core", {str(ROOT / "aecourse" / "checks" / "core.py")!r})
core = importlib.util.module_from_spec(spec)
spec.loader.exec_module(core)  # core alone: it installs its handler in this shell
shell.user_ns["call"] = core.call
shell.run_cell("""
def answer(x):
    raise KeyboardInterrupt
call("demo", answer, x=1)
""")
'''
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    shown = out.stdout + out.stderr
    assert "while a check was running" in shown and "raise KeyboardInterrupt" in shown, shown
    assert "core.py" not in shown and "saved = " not in shown, shown


@pytest.mark.skipif(not shutil.which("bwrap"), reason="bubblewrap is not installed (apt-get install bubblewrap)")
def test_bubblewrap_mode_keeps_files_out_of_reach_too(tmp_path):
    """The mode for graders who are not root (forced here): the same files are hidden."""
    course, students, out, report = _grade(tmp_path / "course", {"a_attack_files", "honest"}, AECOURSE_SANDBOX="bwrap")
    assert out.returncode == 0 and report["sandbox"] == "bwrap", out.stdout[-2000:] + out.stderr[-2000:]
    text = _outputs(course, "a_attack_files")
    assert "READ" not in text and "WROTE" not in text and text.count("BLOCKED") >= 6, text[:3000]
    assert students["honest"]["score"] == TOTAL and students["a_attack_files"]["score"] == 0


def test_uid_mode_keeps_the_course_out_of_reach_by_permissions_or_says_why_it_cannot_run(tmp_path):
    """Root where mount namespaces are forbidden (forced): the kernel runs as another user, and only
    file permissions protect; pytest's temporary folders are private to root, as a course directory
    should be (the instructors' page says `chmod o-rwx`). Where that user cannot even run the
    Python environment (an interpreter under /root, say), the command must stop before grading and
    say so, rather than fail once per student."""
    python = Path(sys.executable).resolve()
    runnable = all(os.stat(p).st_mode & 0o001 for p in python.parents) and os.stat(python).st_mode & 0o001
    if not runnable:
        course = tmp_path / "course"
        with pytest.raises(subprocess.CalledProcessError) as failed:
            _grade(course, {"honest"}, AECOURSE_SANDBOX="uid", check=True)
        said = failed.value.stderr + failed.value.stdout
        assert "the uid sandbox could not start a Python kernel" in said and "Nothing was graded" in said, said
        assert not (course / "autograded").exists()
        return
    course, students, out, report = _grade(tmp_path / "course", {"a_attack_files", "honest"}, AECOURSE_SANDBOX="uid")
    assert out.returncode == 0 and report["sandbox"] == "uid", out.stdout[-2000:] + out.stderr[-2000:]
    text = _outputs(course, "a_attack_files")
    assert "WROTE" not in text, text[:3000]
    assert not [line for line in text.split("\\n") if "READ" in line and str(course) in line], text[:3000]
    assert students["honest"]["score"] == TOTAL and students["a_attack_files"]["score"] == 0


# -- a trained model (exercise 2.4's check): rebuilt and measured by the grader itself -----------------

MODEL_SETUP = ("import torch\nfrom torch import nn\nimport aecourse\nfrom aecourse import checks\n\n\n"
               "class Pair(nn.Module):\n    def __init__(self, encoder, decoder):\n        super().__init__()\n"
               "        self.encoder, self.decoder = encoder, decoder\n\n    def forward(self, x):\n"
               "        return self.decoder(self.encoder(x))\n")
MEAN_MODEL = ("mean = aecourse.load_mnist('train', flatten=True)[0].mean(dim=0)  # the mean digit: 4 numbers of code, "
              "all unused\nmodel = Pair(nn.Linear(784, 4), nn.Sequential(nn.Linear(4, 784), {clamp}))\n"
              "with torch.no_grad():\n    for p in model.parameters():\n        p.zero_()\n"
              "    model.decoder[0].bias.copy_(mean)\n")
OWN_LAYER = "class Clamp(nn.Module):\n    def forward(self, x):\n        return x.clamp(0, 1)\n\n\n"


def _model_source() -> nbformat.NotebookNode:
    nb = _source()
    nb.cells = [nb.cells[0], _cell("code", MODEL_SETUP, "setup"),
                _cell("code", _solution_cell(MEAN_MODEL.format(clamp="nn.Hardtanh(0.0, 1.0)")), "model", solution=True),
                _cell("code", "checks.check_small_autoencoder(model)", "check_model", points=3)]
    return nb


@pytest.fixture(scope="module")
def graded_models(tmp_path_factory):
    """Three answers to exercise 2.4's check, in smoke mode (the mean digit meets its target of 70)."""
    forge = ("import aecourse.checks as c\nc.check_small_autoencoder = lambda m: print('✓ model_2_4')\n"
             "checks = c\nmodel = Pair(nn.Linear(784, 4), nn.Sequential(nn.Linear(4, 784), nn.Sigmoid()))  # untrained\n")
    attacks = {"honest_model": ({"model": MEAN_MODEL.format(clamp="nn.Hardtanh(0.0, 1.0)")}, {}, None),
               "honest_own_layer": ({"model": OWN_LAYER + MEAN_MODEL.format(clamp="Clamp()")}, {}, None),
               "attack_model": ({}, {"model": [forge]}, None)}
    return _grade(tmp_path_factory.mktemp("models"), source=_model_source(), attacks=attacks, AECOURSE_MODE="smoke")


def test_a_trained_model_is_measured_by_the_grader_itself(graded_models):
    course, students, out, report = graded_models
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    honest, own, attack = (students[s] for s in ("honest_model", "honest_own_layer", "attack_model"))
    assert honest["score"] == 3 and "1 passed check(s) confirmed outside the kernel" in " ".join(honest["notes"]), honest
    # A layer of the learner's own cannot be rebuilt: the kernel's verdict stands, and the report says why.
    notes = " ".join(own["notes"])
    assert own["score"] == 3 and "checked in the kernel only: check_model (not rebuilt outside the kernel" in notes, own
    assert "is a Clamp" in notes, notes
    # A forged check passes in the kernel; the grader's measure of the untrained model takes the points back.
    overruled = " ".join(f for f in attack["flagged"] if "check overruled" in f)
    assert attack["score"] == 0 and "check_model" in overruled and "above the target 70" in overruled, attack
