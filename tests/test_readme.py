"""The README is a learner's path: install order, study times from the notebooks, links that work."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _header_minutes(path: Path) -> int:
    """The study time a notebook's header states ("**Time:** about N minutes")."""
    cells = json.loads(path.read_text())["cells"][:2]
    text = "".join("".join(c["source"]) for c in cells)
    found = re.search(r"\*\*Time:\*\* about (\d+) minutes", text)
    assert found, f"{path.name}: its header states no '**Time:** about N minutes'"
    return int(found.group(1))


def test_the_syllabus_study_times_are_the_notebooks_own():
    rows = dict(re.findall(r"(?m)^\| (\d\d) \|.*\| (\d+) min \|$", README))
    lessons = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(rows) == [p.name[:2] for p in lessons]
    total = 0
    for lesson in lessons:
        exercise = ROOT / "exercises" / f"{lesson.stem}_exercises.ipynb"
        minutes = _header_minutes(lesson) + (_header_minutes(exercise) if exercise.exists() else 0)
        assert int(rows[lesson.name[:2]]) == minutes, f"lesson {lesson.name[:2]}: README says {rows[lesson.name[:2]]} min"
        total += minutes
    assert f"**about {round(total / 60)} hours** ({total} min)" in README
    assert f"about {round(total / 60)} hours for lessons and exercises" in README


def test_a_cpu_only_linux_install_gets_the_cpu_build_before_the_course():
    block = re.search(r"## Get started\n.*?```bash\n(.+?)```", README, re.S).group(1)
    lines = [line.split("#")[0].strip() for line in block.splitlines()]
    order = [next(i for i, line in enumerate(lines) if line.startswith(cmd)) for cmd in
             ("git clone", "python3 -m venv .venv", "source .venv/bin/activate",
              "pip install torch --index-url", "pip install -e .", "python -m aecourse copy", "jupyter lab")]
    assert order == sorted(order), lines
    assert README.index("## Get started") < README.index("<!-- test-command -->")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_lead_to_files(page):
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        path = target.split("#")[0]
        if not path or re.match(r"[a-z]+:", path):
            continue
        assert (page.parent / path).exists(), f"{page.name}: link {target} leads nowhere"


def test_licences_are_there_and_named():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    text = (ROOT / "LICENSE-TEXT").read_text()
    assert "Creative Commons Attribution 4.0 International Public License" in text
    assert "## Licence" in README and "CC BY 4.0" in README and "CC BY-SA 3.0" in README
