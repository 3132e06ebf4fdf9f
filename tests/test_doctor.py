import shutil
import subprocess
import sys
from pathlib import Path

from aecourse import doctor

BASE_PYTHON = getattr(sys, "_base_executable", None) or sys.executable  # outside any venv


def test_doctor_reports_and_passes_here():
    out = subprocess.run([sys.executable, "-m", "aecourse", "doctor"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    for row in ("python", "torch", "device", "mode", "MNIST", "ipywidgets"):
        assert f"\n  {row} " in out.stdout
    assert "4 files verified" in out.stdout


def test_doctor_fails_with_a_fix_when_an_essential_is_missing(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "ESSENTIAL", doctor.ESSENTIAL + ("no_such_module_xyz",))
    assert doctor.run() == 1
    out = capsys.readouterr().out
    assert "no_such_module_xyz" in out and "MISSING" in out and "pip install" in out


def test_doctor_fails_on_corrupt_data(tmp_path, monkeypatch, capsys):
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / name).write_bytes(b"broken")
    monkeypatch.setenv("AECOURSE_DATA_DIR", str(tmp_path))
    assert doctor.run() == 1
    assert "could not be decompressed" in capsys.readouterr().out


def _bare_doctor(tmp_path, with_venv: bool, depth: str = ""):
    """Run the doctor from a course folder in a Python that has none of the course's packages."""
    course = tmp_path / depth / "course"
    shutil.copytree(Path(doctor.__file__).parent, course / "aecourse",
                    ignore=shutil.ignore_patterns("__pycache__"))
    if with_venv:
        (course / ".venv").mkdir()
    env = {"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1"}
    # -S: no site-packages, so not even numpy is there; the base interpreter is in no venv
    return subprocess.run([BASE_PYTHON, "-S", "-m", "aecourse", "doctor"], cwd=course, env=env,
                          capture_output=True, text=True, timeout=60)


def test_doctor_runs_without_any_dependency_and_says_to_activate_the_venv(tmp_path):
    out = _bare_doctor(tmp_path, with_venv=True)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    assert "torch         MISSING" in out.stdout
    text = " ".join(out.stdout.split())
    assert "No virtual environment is active" in text and "source .venv/bin/activate" in text
    # lines are wrapped between words; only a word longer than the width (a deep path) stands alone
    for line in out.stdout.splitlines():
        assert len(line) <= doctor.WIDTH or len(line.split()) == 1, line


def test_a_path_longer_than_a_line_stands_on_its_own_line(tmp_path):
    out = _bare_doctor(tmp_path, with_venv=True, depth="a-folder-name-so-long-that-no-line-of-78-columns-can-hold-it")
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stdout + out.stderr
    long_lines = [line for line in out.stdout.splitlines() if len(line) > doctor.WIDTH]
    assert long_lines and all(len(line.split()) == 1 for line in long_lines), out.stdout


def test_doctor_without_a_venv_says_to_create_one(tmp_path):
    out = _bare_doctor(tmp_path, with_venv=False)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stdout + out.stderr
    assert "create and fill one" in " ".join(out.stdout.split())


def test_a_missing_dependency_names_the_fix_at_first_use(tmp_path):
    out = subprocess.run([BASE_PYTHON, "-S", "-c", "import aecourse; print(aecourse.__version__); aecourse.fit"],
                         cwd=tmp_path, env={"PYTHONPATH": str(Path(doctor.__file__).parent.parent)},
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "0.1.0"
    assert "aecourse.fit needs" in out.stderr and "python -m aecourse doctor" in out.stderr
