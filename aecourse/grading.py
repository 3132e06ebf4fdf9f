"""`python -m aecourse grade ASSIGNMENT`: grade every submission on its own, sandboxed, and report.

For each student of an nbgrader course directory: copy the submission to a private staging
folder and rebuild it on the released notebook (locked and check cells restored, stray
nbgrader metadata removed, the kernel forced to the sandbox), then run one `nbgrader
autograde` for that student alone, whose kernel starts through aecourse/sandbox.py and whose
execution is aecourse.grading_kernel.SafeExecute. Every student ends up in the report:
graded (with what was restored, flagged or cut), or not graded and why. The exit status is
non-zero only for problems on the instructor's side (no assignment, no sandbox, nbgrader
failing for a reason that is not the submission). AECOURSE_SANDBOX=uid|bwrap|none forces a
weaker sandbox (to test it); AECOURSE_GRADE_DEBUG=1 keeps the staging folder and prints timings.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
# Answer code that a learner has no reason to write in an exercise: reported for a human to look at.
SUSPICIOUS = {
    r"aecourse\.checks|from aecourse import checks|aecourse\.vae|from aecourse import vae|kl_reference":
        "uses the course's checks or reference code",
    r"\bsys\.modules\b|\bimportlib\b|__import__|\bgc\.|\bctypes\b|\binspect\.|__code__|__globals__|\bsetattr\(":
        "reaches into other code (sys.modules, importlib, gc, ctypes, inspect, __code__, setattr)",
    r"input_transformers|ast_transformers|get_ipython|\bbuiltins\b|\.events\.register":
        "changes how IPython runs cells",
    r"\bsubprocess\b|os\.(system|fork|kill|_exit|popen|exec)|\bsignal\.|\bthreading\b|\bmultiprocessing\b":
        "starts or stops processes",
    r"\bopen\(|\bPath\(|os\.(listdir|walk|scandir|remove|unlink)|\bshutil\b|\bglob\b":
        "reads or writes files",
    r"\bexit\(|\bquit\(|KeyboardInterrupt|BaseException|except\s*:":
        "exits the kernel or swallows interrupts",
}


@dataclass
class Limits:
    """What one submission may use."""

    cell_timeout: int = 60  # seconds per cell
    notebook_timeout: int = 600  # seconds for the whole notebook
    memory_mb: int = 4096  # address space of the kernel (torch alone maps about 1.5 GB)
    cell_output_kb: int = 64  # output kept per cell
    submission_mb: int = 5  # larger notebooks are not graded
    nproc: int = 256  # processes and threads of the sandbox user


@dataclass
class Result:
    """What happened to one student's submission."""

    student: str
    status: str = "graded"  # graded | not graded
    score: float | None = None
    max_score: float | None = None
    seconds: float = 0.0
    reasons: list[str] = field(default_factory=list)  # why not graded
    restored: list[str] = field(default_factory=list)  # cells put back from the release
    flagged: list[str] = field(default_factory=list)  # suspected tampering, for a human to review
    notes: list[str] = field(default_factory=list)  # timeouts, restarts, cut output


# -- the sandbox ---------------------------------------------------------------------------------


def sandbox_mode(allow_unsandboxed: bool = False) -> str:
    """Return the strongest sandbox this machine allows: root (+ mount namespace), uid, bwrap, or none."""
    if os.environ.get("AECOURSE_SANDBOX") in ("root", "uid", "bwrap", "none"):  # for testing a weaker mode
        return os.environ["AECOURSE_SANDBOX"]
    if os.geteuid() == 0:
        probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True) if shutil.which("unshare") else None
        return "root" if probe is not None and probe.returncode == 0 else "uid"
    if shutil.which("bwrap") and subprocess.run(["bwrap", "--ro-bind", "/", "/", "true"],
                                                capture_output=True).returncode == 0:
        return "bwrap"
    if allow_unsandboxed:
        return "none"
    raise SystemExit("no sandbox for the students' kernels: run the grader as root (it drops each kernel to "
                     "an unprivileged user) or install bubblewrap (apt-get install bubblewrap); "
                     "--unsandboxed grades anyway, with student code running with your rights")


def hidden_paths(course: Path) -> list[str]:
    """Return what the kernels must not see: the course directory and the clone beside the package."""
    hidden = {str(course)}
    repo = PACKAGE.parent
    if (repo / "pyproject.toml").is_file():  # an editable install: hide the clone but what the kernel needs
        keep = {PACKAGE, repo / "data"}
        keep |= {p for p in repo.iterdir() if Path(sys.prefix).resolve().is_relative_to(p.resolve())}
        hidden |= {str(p) for p in repo.iterdir() if p not in keep and p.name != ".git"}
        hidden.add(str(repo / ".git"))
    return sorted(hidden)


def _write_kernelspec(staging: Path, mode: str, course: Path, limits: Limits, uid: int) -> None:
    argv = [sys.executable, "-I", str(PACKAGE / "sandbox.py"), "--mode", mode, "--uid", str(uid), "--gid", str(uid),
            "--connection", "{connection_file}", "--memory-mb", str(limits.memory_mb),
            "--cpu-s", str(2 * limits.notebook_timeout), "--nproc", str(limits.nproc)]
    for path in hidden_paths(course) + [str(staging)]:
        argv += ["--hide", path]
    for path in {str(Path(sys.base_prefix).resolve()), str(Path(sys.prefix).resolve()), str(PACKAGE)}:
        argv += ["--expose", path]
    data = PACKAGE.parent / "data"
    if data.is_dir():
        argv += ["--data-dir", str(data / "mnist")]
    argv += ["--", sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    folder = staging / "jupyter" / "kernels" / "aecourse-sandbox"
    folder.mkdir(parents=True)
    (folder / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "aecourse sandbox",
                                                    "language": "python"}, indent=1))
    _preflight(staging, argv, mode)


def _preflight(staging: Path, argv: list[str], mode: str) -> None:
    """Start the sandbox once with a trivial command; stop with a clear error if no kernel could start in it."""
    connection = staging / "preflight-connection.json"
    connection.write_text("{}")
    cut = argv.index("--")
    cmd = [a.replace("{connection_file}", str(connection)) for a in argv[:cut]]
    proc = subprocess.run(cmd + ["--", sys.executable, "-c", "import ipykernel, aecourse.checks"],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode == 0:
        return
    why = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
    fix = {"uid": f"the sandbox user must be able to run {Path(sys.executable).resolve()} and read the environment "
                  "and the package, and a private folder above them (such as /root) stops it. Install the "
                  "environment where other users may read it, or grade where mount namespaces are allowed "
                  "(root mode)",
           "root": "the mount namespace, the user switch or a resource limit failed; try AECOURSE_SANDBOX=bwrap "
                   "as a user with bubblewrap installed",
           "bwrap": "bubblewrap could not start the kernel; check that `bwrap --ro-bind / / true` works"}.get(mode, "")
    raise SystemExit(f"the {mode} sandbox could not start a Python kernel ({why}): {fix}. Nothing was graded.")


def _write_config(staging: Path, course: Path, limits: Limits, uid: int) -> Path:
    """Write staging/nbgrader_config.py: the course's own configuration, then the grader's, which wins."""
    config = staging / "nbgrader_config.py"
    own = course / "nbgrader_config.py"
    config.write_text(f"""c = get_config()  # noqa: F821
{f"load_subconfig({str(own)!r})  # noqa: F821" if own.is_file() else ""}
c.CourseDirectory.root = {str(course)!r}
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput,
                                    SaveAutoGrades)
from nbconvert.preprocessors import ClearMetadataPreprocessor
from aecourse.grading_kernel import SafeExecute
c.Autograde.autograde_preprocessors = [SafeExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                       SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
c.CourseDirectory.submitted_directory = {str(staging / 'submitted')!r}
c.OverwriteCells.add_missing_cells = True
c.SafeExecute.kernel_name = "aecourse-sandbox"
c.SafeExecute.timeout = {limits.cell_timeout}
c.SafeExecute.notebook_timeout = {limits.notebook_timeout}
c.SafeExecute.cell_output_bytes = {limits.cell_output_kb * 1000}
c.SafeExecute.sandbox_uid = {uid}
c.SafeExecute.probe_cache = {str(staging / 'verdicts')!r}
c.SafeExecute.startup_timeout = 120
""")
    return config


# -- staging: rebuild a submission on the released notebook ---------------------------------------


def _meta(cell: dict) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def stage(submitted: Path, release: Path, target: Path, result: Result, max_bytes: int) -> bool:
    """Write the submission rebuilt on the release to target; record what changed; False if ungradable."""
    import nbformat

    if submitted.stat().st_size > max_bytes:
        result.reasons.append(f"invalid notebook: {submitted.stat().st_size >> 20} MB, over the "
                              f"{max_bytes >> 20} MB limit")
        return False
    try:
        nb = json.loads(submitted.read_text(encoding="utf-8"))
        cells = nb["cells"]
        assert isinstance(cells, list) and all(isinstance(c, dict) and "cell_type" in c for c in cells)
    except (ValueError, KeyError, TypeError, AssertionError, UnicodeDecodeError) as err:
        result.reasons.append(f"invalid notebook: not a Jupyter notebook ({type(err).__name__})")
        return False
    released = nbformat.read(release, as_version=4)
    known = {_meta(c)["grade_id"]: c for c in released.cells if _meta(c).get("grade_id")}
    answers, extras, seen, last = {}, {}, set(), None
    for cell in cells:
        meta, source = _meta(cell), cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        gid = meta.get("grade_id")
        if gid in known and gid not in seen and cell.get("cell_type") == known[gid].cell_type:
            seen.add(gid)
            last = gid
            if known[gid].metadata.nbgrader.get("solution"):
                answers[gid] = source
            elif source.strip() != known[gid].source.strip():
                result.restored.append(f"{gid}: edited locked cell restored")
            continue
        if "nbgrader" in cell.get("metadata", {}):
            result.restored.append(f"cell {cells.index(cell)}: nbgrader metadata of a cell not in the "
                                   "release removed (the cell kept as an ordinary cell)")
        kind = cell.get("cell_type") if cell.get("cell_type") in ("code", "markdown") else "raw"
        extras.setdefault(last, []).append((kind, source))
    out = nbformat.v4.new_notebook(metadata=released.metadata)
    for cell in released.cells:
        gid = _meta(cell).get("grade_id")
        if gid and gid not in seen and not _meta(cell).get("solution"):
            result.restored.append(f"{gid}: deleted cell restored")
        copy = nbformat.from_dict(json.loads(json.dumps(cell)))
        if gid in answers:
            copy.source = answers[gid]
        out.cells.append(copy)
        for kind, source in extras.pop(gid, []) if gid else []:
            out.cells.append(getattr(nbformat.v4, f"new_{kind}_cell")(source))
    for kind, source in extras.pop(None, [])[::-1]:
        out.cells.insert(0, getattr(nbformat.v4, f"new_{kind}_cell")(source))
    written = "\n".join(list(answers.values()) + [s for cells_ in extras.values() for _, s in cells_] +
                        [c.source for c in out.cells if not _meta(c) and c.cell_type == "code"])
    for pattern, why in SUSPICIOUS.items():
        if re.search(pattern, written):
            result.flagged.append(f"the student's code {why} (review by hand)")
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(out, target)
    return True


# -- one student, then all -------------------------------------------------------------------------


def _score(course: Path, assignment: str, student: str) -> tuple[float, float] | None:
    from nbgrader.api import Gradebook, MissingEntry

    try:
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
            sub = gb.find_submission(assignment, student)
            return sub.score, sub.max_score
    except MissingEntry:
        return None


def grade_student(course: Path, assignment: str, student: str, staging: Path, limits: Limits,
                  mode: str, uid: int) -> Result:
    """Stage, autograde and inspect one student's submission."""
    from .sandbox import sweep

    result, start = Result(student), time.monotonic()
    folder = course / "submitted" / student / assignment
    release = course / "release" / assignment
    staged = staging / "submitted" / student / assignment
    notebooks = sorted(release.glob("*.ipynb"))
    for notebook in notebooks:
        submitted = folder / notebook.name
        if not submitted.is_file():
            result.reasons.append(f"missing notebook {notebook.name}")
        elif not stage(submitted, notebook, staged / notebook.name, result, limits.submission_mb << 20):
            pass
    if result.reasons:
        result.status = "not graded"
        result.seconds = round(time.monotonic() - start, 1)
        return result
    if (folder / "timestamp.txt").is_file():
        shutil.copy(folder / "timestamp.txt", staged / "timestamp.txt")
    report = staging / f"report-{student}.json"
    env = dict(os.environ, JUPYTER_PATH=str(staging / "jupyter"), JUPYTER_RUNTIME_DIR=str(staging / "runtime"),
               PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    cmd = [sys.executable, "-m", "nbgrader", "autograde", assignment, "--student", student, "--force",
           f"--SafeExecute.report_path={report}"]
    try:
        proc = subprocess.run(cmd, cwd=staging, env=env, capture_output=True, text=True,
                              timeout=3 * limits.notebook_timeout + 300, start_new_session=True)  # kernel, confirmations, checks
        log, code = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as err:
        log, code = str(err.stdout or "") + str(err.stderr or ""), None
        result.reasons.append("timeout: the grader itself ran past the notebook's limit")
    if mode in ("root", "uid"):
        left = sweep(uid)
        if left:
            result.notes.append(f"{left} process(es) left running by the submission were killed")
    events = json.loads(report.read_text()) if report.is_file() else None
    if os.environ.get("AECOURSE_GRADE_DEBUG"):
        print(student, "worker", round(time.monotonic() - start, 1), events and events.get("timing"), file=sys.stderr)
    if events:
        result.flagged += [f"tampering detected: {t}" for t in events["tamper"]]
        result.flagged += [f"{c}: check cell printed no confirmation (✓)" for c in events["unconfirmed"]]
        result.flagged += [f"check overruled (scored 0): the grader's own comparison disagrees with the check "
                           f"in the kernel: {o}" for o in events["overruled"]]
        if events["confirmed"] or events["unprobed"]:
            result.notes.append(f"{len(events['confirmed'])} passed check(s) confirmed outside the kernel"
                                + (f"; checked in the kernel only: {', '.join(events['unprobed'])}"
                                   if events["unprobed"] else ""))
        result.notes += [f"kernel died: {d}" for d in events["deaths"]]
        result.notes += [f"timeout: {t}" for t in events["timeouts"]]
        result.notes += [f"not run: {s}" for s in events["skipped"]]
        if events.get("changed_on_disk"):
            result.notes.append("aecourse.checks changed on disk during grading (not by the student): "
                                + ", ".join(events["changed_on_disk"][:4]))
        if events["truncated"]:
            result.notes.append(f"output cut in {len(events['truncated'])} cell(s)")
    if code != 0 and not result.reasons:
        tail = [ln for ln in log.splitlines() if "ERROR" in ln or "Error" in ln][-3:]
        result.reasons.append("nbgrader failed: " + (" | ".join(tail) or log[-300:]))
    score = _score(course, assignment, student)
    if score and not result.reasons:
        result.score, result.max_score = score
    else:
        result.status = "not graded"
    result.seconds = round(time.monotonic() - start, 1)
    (staging / f"log-{student}.txt").write_text(log)
    return result


def grade(course: Path, assignment: str, limits: Limits, students: list[str] | None = None,
          allow_unsandboxed: bool = False, uid: int = 65534) -> tuple[str, list[Result]]:
    """Grade every (or the given) student of an assignment; return the sandbox mode and the results."""
    course = course.resolve()
    if not (course / "source" / assignment).is_dir():
        raise SystemExit(f"no assignment {assignment!r} in {course / 'source'}")
    if not (course / "release" / assignment).is_dir() or not (course / "gradebook.db").is_file():
        raise SystemExit(f"{assignment!r} is not released: run `nbgrader generate_assignment {assignment}` "
                         f"in {course} first")
    if Path(sys.prefix).resolve().is_relative_to(course) or PACKAGE.is_relative_to(course):
        raise SystemExit(f"the course directory {course} holds the Python environment or the package; the "
                         "kernels could not be kept out of it: move the course directory elsewhere")
    mode = sandbox_mode(allow_unsandboxed)
    from .sandbox import SCRATCH

    scratch = [d for d in SCRATCH for p in (Path(sys.prefix).resolve(), PACKAGE) if p.is_relative_to(d)]
    if mode in ("root", "bwrap") and scratch:
        raise SystemExit(f"the Python environment or the package is inside {scratch[0]}, which the sandbox replaces "
                         "with an empty folder for each kernel: clone the course and make its environment elsewhere "
                         "(your home folder, /opt, /srv)")
    found = sorted(p.parent.name for p in (course / "submitted").glob(f"*/{assignment}"))
    staging = Path(tempfile.mkdtemp(prefix="aecourse-grade-"))
    try:
        os.chmod(staging, 0o700)
        _write_kernelspec(staging, mode, course, limits, uid)
        _write_config(staging, course, limits, uid if mode in ("root", "uid") else -1)
        results = [grade_student(course, assignment, s, staging, limits, mode, uid) for s in students or found]
    finally:
        if not os.environ.get("AECOURSE_GRADE_DEBUG"):
            shutil.rmtree(staging, ignore_errors=True)
    return mode, results


MODES = {"root": "each kernel ran as an unprivileged user in a private mount namespace (course directory, "
                 "solutions/ and the clone hidden, private /tmp), with resource limits",
         "uid": "each kernel ran as an unprivileged user with resource limits; no mount namespace, so files "
                "that this user may read by their permissions were readable",
         "bwrap": "each kernel ran in bubblewrap (course directory and clone hidden, own PID namespace) with "
                  "resource limits, as your own user",
         "none": "NO SANDBOX: student code ran with your rights (resource limits only)"}


def render(assignment: str, mode: str, results: list[Result]) -> str:
    """Return the report as text."""
    lines = [f"Grading report for {assignment}", f"sandbox: {mode}: {MODES[mode]}", ""]
    for r in results:
        head = (f"{r.student}: {r.score:g} / {r.max_score:g}" if r.status == "graded"
                else f"{r.student}: NOT GRADED") + f"  ({r.seconds:.0f} s)"
        lines.append(head)
        for label, items in (("why", r.reasons), ("FLAGGED", r.flagged), ("restored", r.restored),
                             ("note", r.notes)):
            lines += [f"    {label}: {item}" for item in items]
    graded = sum(r.status == "graded" for r in results)
    flagged = sum(bool(r.flagged) for r in results)
    lines += ["", f"{graded} of {len(results)} submissions graded; {len(results) - graded} not graded; "
                  f"{flagged} flagged for review."]
    return "\n".join(lines) + "\n"


def run(assignment: str, course: str = ".", limits: Limits | None = None, students: list[str] | None = None,
        allow_unsandboxed: bool = False, uid: int = 65534) -> int:
    """Grade, print and write the report (grading-report-ASSIGNMENT.txt and .json); return the exit status."""
    course_dir = Path(course).resolve()
    mode, results = grade(course_dir, assignment, limits or Limits(), students, allow_unsandboxed, uid)
    text = render(assignment, mode, results)
    print(text, end="")
    (course_dir / f"grading-report-{assignment}.txt").write_text(text)
    (course_dir / f"grading-report-{assignment}.json").write_text(
        json.dumps({"assignment": assignment, "sandbox": mode, "students": [asdict(r) for r in results]}, indent=1))
    grader_errors = [r for r in results if any(w.startswith("nbgrader failed") for w in r.reasons)]
    return 1 if results and len(grader_errors) == len(results) else 0
