"""`python -m aecourse copy`: learners' copies keep working links and stay out of git's way."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aecourse import workspace

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")


def _relative_links(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]


@pytest.mark.parametrize("lessons", [[], ["3"]])
def test_every_relative_link_of_a_copy_leads_to_a_file(tmp_path, lessons):
    done, kept = workspace.copy(lessons, dest=tmp_path / "my-work")
    assert done and not kept
    for rel in done:
        copy = tmp_path / "my-work" / rel
        links = _relative_links(copy)
        assert links or rel.parts[0] == "exercises", rel
        for target in links:
            assert (copy.parent / target).exists(), f"{rel}: link {target} leads nowhere"
    if lessons:  # a copy of lesson 03 alone links to the course's own lesson 02
        lesson = tmp_path / "my-work/notebooks/03_sparse_autoencoders.ipynb"
        assert any((lesson.parent / t).resolve() == ROOT / "notebooks/02_undercomplete_and_overcomplete.ipynb"
                   for t in _relative_links(lesson))
    else:  # everything copied: links between notebooks stay as they are, only others are rewritten
        assert [rel.as_posix() for rel in done] == [p.as_posix() for p in workspace.course_notebooks()]
        for rel in done:
            ours, theirs = _relative_links(tmp_path / "my-work" / rel), _relative_links(ROOT / rel)
            for mine, original in zip(ours, theirs, strict=True):
                assert mine == original or not original.endswith(".ipynb"), (rel, mine)


def test_a_copy_records_this_python_so_jupyterlab_does_not_mark_it_modified(tmp_path):
    import platform

    done, _ = workspace.copy(["0"], dest=tmp_path)
    meta = json.loads((tmp_path / done[0]).read_text())["metadata"]
    assert meta["language_info"]["version"] == platform.python_version()
    ipykernel = pytest.importorskip("ipykernel.ipkernel")  # what the kernel itself reports
    assert meta["language_info"] == ipykernel.IPythonKernel.language_info
    assert meta["kernelspec"] == {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def test_a_copy_that_exists_is_never_overwritten(tmp_path):
    workspace.copy(["8"], dest=tmp_path)
    mine = tmp_path / "exercises/08_variational_autoencoders_exercises.ipynb"
    mine.write_text("my answers")
    done, kept = workspace.copy(["8", "9"], dest=tmp_path)
    assert mine.read_text() == "my answers"
    assert Path("exercises/08_variational_autoencoders_exercises.ipynb") in kept
    assert all(p.name.startswith("09_") for p in done)


@pytest.mark.parametrize("bad, says", [("x", "expected lesson numbers"), ("42", "there is no lesson 42")])
def test_bad_lesson_numbers_say_what_to_pass(bad, says):
    with pytest.raises(ValueError, match=says):
        workspace.select([bad])
    out = subprocess.run([sys.executable, "-m", "aecourse", "copy", bad, "--dest", "/nonexistent/x"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 2 and says in out.stdout


def _git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_work_in_my_work_survives_a_git_pull(tmp_path):
    upstream = tmp_path / "upstream"
    for rel in ("notebooks/00_start_here.ipynb", "notebooks/02_undercomplete_and_overcomplete.ipynb",
                "exercises/02_undercomplete_and_overcomplete_exercises.ipynb", ".gitignore"):
        (upstream / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, upstream / rel)
    _git(upstream, "init", "-q", "-b", "main")
    _git(upstream, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(upstream, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "course")
    _git(tmp_path, "clone", "-q", str(upstream), "clone")
    clone = tmp_path / "clone"

    done, _ = workspace.copy(["2"], dest=clone / "my-work", root=clone)
    assert len(done) == 2
    (clone / "my-work" / done[0]).write_text("a learner's saved work")
    assert _git(clone, "status", "--porcelain") == ""  # my-work/ is ignored

    lesson = upstream / "notebooks/02_undercomplete_and_overcomplete.ipynb"
    lesson.write_text(lesson.read_text().replace("Undercomplete", "Undercomplete (updated)", 1))
    _git(upstream, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "update")
    _git(clone, "pull", "-q", "--ff-only")
    assert _git(clone, "status", "--porcelain") == ""
    assert "(updated)" in (clone / "notebooks/02_undercomplete_and_overcomplete.ipynb").read_text()
    assert (clone / "my-work" / done[0]).read_text() == "a learner's saved work"
