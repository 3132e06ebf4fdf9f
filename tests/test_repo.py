"""Repository hygiene: clean notebooks, lint, and one environment described twice the same way."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
CONDA_TO_PYPI = {"pytorch": "torch"}


def _tracked_notebooks() -> list[Path]:
    if shutil.which("git") and (ROOT / ".git").exists():
        out = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True)
        return [ROOT / p for p in out.stdout.split()]
    return [p for p in ROOT.rglob("*.ipynb") if not any(s.startswith(".") for s in p.relative_to(ROOT).parts)]


def test_committed_notebooks_carry_no_outputs():
    dirty = []
    for path in _tracked_notebooks():
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count")):
                dirty.append(path.relative_to(ROOT).as_posix())
                break
    assert not dirty, f"strip outputs and execution counts from: {dirty}"


def test_ruff_is_clean():
    targets = [d for d in ("aecourse", "tests", "benchmarks", "notebooks", "solutions", "exercises")
               if (ROOT / d).exists()]
    out = subprocess.run([sys.executable, "-m", "ruff", "check", *targets], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def _requirement(spec: str) -> tuple[str, str] | None:
    """Return (normalised name, version specifier) of a requirement, or None if its marker excludes 3.11."""
    spec, _, marker = spec.partition(";")
    if marker and "python_version < '3.11'" in marker.replace('"', "'"):
        return None
    m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*(\[[^\]]*\])?\s*(.*?)\s*", spec)
    name = CONDA_TO_PYPI.get(m.group(1).lower(), m.group(1).lower()).replace("_", "-")
    return name, m.group(3).replace(" ", "")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for reqs in project["optional-dependencies"].values():
        wanted += [r for r in reqs if not r.startswith("aecourse[")]
    from_pyproject = {r for r in map(_requirement, wanted) if r}

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e .[all]" in pip, "environment.yml must install the course package with its extras"
    listed = [d for d in conda + pip if not d.startswith(("python=", "-e ")) and d != "pip"]
    from_env = {r for r in map(_requirement, listed) if r}
    assert from_env == from_pyproject, (
        f"only in environment.yml: {sorted(from_env - from_pyproject)}; "
        f"only in pyproject.toml: {sorted(from_pyproject - from_env)}")
    assert set(project["optional-dependencies"]) == {"keras", "dev", "all"}


def test_no_upper_pins_on_what_colab_ships():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for req in project["dependencies"] + project["optional-dependencies"]["keras"]:
        assert "<" not in req and "==" not in req, f"{req}: keep requirements loose for Colab"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"<!-- test-command -->\s*```(?:bash|sh)?\n(.+?)\n```", readme, re.S)
    assert len(blocks) == 1 and "pytest" in blocks[0]
    assert "test-command" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("folder", ["notebooks", "aecourse", "exercises", "solutions", "tests",
                                    "data/mnist", "benchmarks"])
def test_layout(folder):
    assert (ROOT / folder).is_dir()


def test_notebooks_are_stored_as_jupyter_writes_them():
    """Opening and closing an untouched notebook must not mark it modified: stored in nbformat's own
    form, with the kernelspec and language_info that ipykernel's python3 kernel reports."""
    import nbformat

    from aecourse.workspace import KERNELSPEC, language_info

    for path in _tracked_notebooks():
        text = path.read_text()
        nb = nbformat.reads(text, as_version=4)
        name = path.relative_to(ROOT).as_posix()
        assert nbformat.writes(nb) + "\n" == text, f"{name}: not in the form nbformat writes"
        assert nb.nbformat_minor >= 5 and all("id" in cell for cell in nb.cells), f"{name}: cells need ids"
        assert dict(nb.metadata.get("kernelspec", {})) == KERNELSPEC, f"{name}: kernelspec"
        info = dict(nb.metadata.get("language_info", {}))
        assert info == language_info(info.get("version")), f"{name}: language_info {info}"


MAX_WORDS = 250  # per markdown cell; longer side discussions go into a collapsed "Going further" block


def test_markdown_cells_stay_readable():
    long = []
    for path in _tracked_notebooks():
        for cell in json.loads(path.read_text())["cells"]:
            words = len("".join(cell["source"]).split())
            if cell["cell_type"] == "markdown" and words > MAX_WORDS:
                long.append(f"{path.relative_to(ROOT).as_posix()} cell {cell.get('id')}: {words} words")
    assert not long, f"split these markdown cells (at most {MAX_WORDS} words each): {long}"


def test_learners_never_read_of_the_course_sources_as_seeds():
    """The course was designed from source documents a learner has never seen; no text may call them 'the seeds'."""
    pattern = re.compile(r"\bthe seeds\b|\bseeds'", re.IGNORECASE)  # random seeds and set_seed are fine
    texts = [*_tracked_notebooks(), ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "benchmarks").glob("*.py")]
    found = [p.relative_to(ROOT).as_posix() for p in texts if pattern.search(p.read_text())]
    assert not found, f"name what is meant instead of 'the seeds' in: {found}"
