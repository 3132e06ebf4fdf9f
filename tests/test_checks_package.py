"""aecourse.checks as a package: what it imports, how it is documented, and that it ships."""

import fnmatch
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from aecourse import checks

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_checks_and_the_package_work_without_nbgrader():
    code = ("import sys, aecourse, aecourse.checks, aecourse.exercises, aecourse.__main__; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('nbgrader', 'nbformat', 'nbclient')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize("name", [n for n in checks.__all__ if n.startswith("check_")])
def test_each_check_has_a_one_line_docstring_naming_its_lesson(name):
    doc = inspect.getdoc(getattr(checks, name))
    assert doc and "\n" not in doc and "(lesson 0" in doc, doc


def test_a_regular_install_ships_every_subpackage():
    """A plain pip install (as on Colab) must include aecourse.checks and any other subpackage."""
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    on_disk = {p.parent.relative_to(ROOT).as_posix().replace("/", ".")
               for p in (ROOT / "aecourse").rglob("__init__.py")}
    assert "aecourse.checks" in on_disk
    missed = {pkg for pkg in on_disk if not any(fnmatch.fnmatch(pkg, pat) for pat in find["include"])}
    assert not missed, f"pyproject.toml's packages.find does not include {sorted(missed)}"


def test_a_failed_check_renders_in_jupyter_without_the_checks_frames():
    def crashes(mu_q, log_var_q, mu_p, log_var_p):
        return mu_q @ mu_p

    with pytest.raises(checks.CheckFailed) as err:
        checks.check_kl_diag_gaussians(crashes)
    shown = "\n".join(err.value._render_traceback_())
    assert "return mu_q @ mu_p" in shown and "RuntimeError" in shown  # the learner's line and error
    assert "aecourse/checks" not in shown and shown.endswith(f"CheckFailed: {err.value}")
    with pytest.raises(checks.CheckFailed) as err:
        checks.check_kl_diag_gaussians(lambda mu_q, log_var_q, mu_p, log_var_p: mu_q.sum(dim=1))
    assert err.value._render_traceback_() == [f"CheckFailed: {err.value}"]
