"""aecourse.grading_probes: the grader's own comparison, outside the student's kernel.

Every exercise check is classified (a value the real check judges in a fresh process, a
function probed on secret inputs, or neither, named). A probe must accept every answer its
full check accepts, on any seed, and reject the stub and plainly wrong answers. The kernel's
side is simulated here by running the probe's code with a stand-in `get_ipython`; the grade
command's tests (test_grade_command.py) run it in a real sandboxed kernel.
"""

import base64
import contextlib
import importlib
import inspect
import io
import json
import pickle
import secrets
import sys
import types
from pathlib import Path

import pytest
import torch

from aecourse import checks
from aecourse import grading_probes as gp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
PRELUDE = "import math\nimport numpy as np\nimport torch\nfrom torch import nn\nimport torch.nn.functional as F\n"


def _check_cells() -> dict:
    """Return {check function: (notebook, answer name, solution source)} from the exercise notebooks."""
    found = {}
    for path in sorted((ROOT / "solutions").glob("0[1-9]_*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        solutions = {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in cells
                     if c["metadata"].get("nbgrader", {}).get("solution") and c["cell_type"] == "code"}
        for c in cells:
            meta = c["metadata"].get("nbgrader", {})
            if c["cell_type"] == "code" and meta.get("grade") and not meta.get("solution"):
                check, answer = gp.check_call("".join(c["source"]))
                found[check] = (path.name, answer, solutions.get(answer))
    return found


CELLS = _check_cells()


def run_probe(check: str, answer, seed: int = 1234) -> str | None:
    """Run the probe's kernel code on answer as the student's kernel would; return the grader's verdict."""
    nonce = secrets.token_hex(4)
    code, cases = gp.kernel_code(check, "answer_under_test", seed, nonce)
    user = {"answer_under_test": answer}
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(code, {"get_ipython": lambda: types.SimpleNamespace(user_ns=user)})
    return gp.judge(check, cases, gp.read_reply(buf.getvalue(), nonce))


def _solution(check: str):
    notebook, answer, source = CELLS[check]
    space: dict = {}
    exec(PRELUDE + source, space)
    return space[answer]


def _candidates(check: str) -> list:
    """Return (name, function) of every answer written for this check's tests, right or wrong."""
    lesson = int(CELLS[check][0][:2])
    module = importlib.import_module(f"test_checks_{lesson:02d}")
    arity = len(inspect.signature(_solution(check)).parameters)
    return [(name, fn) for name, fn in vars(module).items()
            if inspect.isfunction(fn) and fn.__module__ == module.__name__ and not name.startswith(("test_", "_"))
            and len(inspect.signature(fn).parameters) == arity]


def test_every_check_of_the_exercises_is_classified():
    kinds = [gp.VALUE_CHECKS, set(gp.PROBED), set(gp.UNPROBED)]
    for check in CELLS:
        assert sum(check in k for k in kinds) == 1, check
    assert set().union(*kinds) == set(CELLS), set().union(*kinds) ^ set(CELLS)
    assert all(hasattr(checks, name) for name in CELLS)


@pytest.mark.parametrize("check", sorted(gp.PROBED))
def test_a_probe_accepts_every_answer_its_full_check_accepts(check):
    real = getattr(checks, check)
    accepted = [("solution", _solution(check))]
    rejected = []
    for name, fn in _candidates(check):
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                real(fn)
            accepted.append((name, fn))
        except Exception:
            rejected.append((name, fn))
    for seed in (0, 7, 2**30 + 3):
        for name, fn in accepted:
            assert run_probe(check, fn, seed) is None, (name, seed, run_probe(check, fn, seed))
    caught = [name for name, fn in rejected if run_probe(check, fn) is not None]
    # The rest break rules the probe leaves to the check in the kernel (autograd, a library shortcut,
    # gradients cut off, the device); a probe still rejects most wrong answers on its own.
    assert len(caught) >= 0.6 * len(rejected), (len(caught), len(rejected))


@pytest.mark.parametrize("check", sorted(gp.PROBED))
def test_a_probe_rejects_the_stub_and_a_constant(check):
    def stub(*args):
        raise NotImplementedError()

    def constant(*args):
        return torch.zeros(3)

    assert "NotImplementedError" in run_probe(check, stub)
    assert run_probe(check, constant) is not None


def test_value_answers_are_judged_by_the_real_check_in_a_fresh_process():
    assert gp.judge("check_prediction_8_4", [], "A") is None
    assert gp.judge("check_prediction_8_4", [], " a\n") is None  # as the check itself accepts it
    why = gp.judge("check_prediction_8_4", [], "B")
    assert why and "✗" not in why, why
    assert "cannot read" in gp.judge("check_prediction_8_4", [], {"unexported type": "Letter"})
    assert gp.judge("check_prediction_7_5", [], torch.tensor(1160)) is None  # a one-number tensor is a number


def test_the_value_reply_is_what_the_kernel_holds():
    for value, want in (("A", "A"), (3, 3), (torch.tensor(0.25), torch.tensor(0.25)), (None, None)):
        nonce = secrets.token_hex(4)
        code, _ = gp.kernel_code("check_prediction_8_4", "v", 0, nonce)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(code, {"get_ipython": lambda v=value: types.SimpleNamespace(user_ns={"v": v})})
        got = gp.read_reply(buf.getvalue(), nonce)
        assert (torch.equal(got, want) if isinstance(want, torch.Tensor) else got == want), (value, got)


class _Boom:
    def __reduce__(self):
        return (print, ("UNPICKLED: the grader ran code from the reply",))


def test_a_reply_cannot_run_code_in_the_grader(capsys):
    """The reply is read with torch.load(weights_only=True): tensors and plain containers only."""
    nonce = "abc"
    blob = base64.b64encode(pickle.dumps([{"out": _Boom()}])).decode()
    with pytest.raises(pickle.UnpicklingError):
        gp.read_reply(f"AECOURSE-PROBE {nonce} {blob}\n", nonce)
    assert "UNPICKLED" not in capsys.readouterr().out
    with pytest.raises(ValueError, match="did not answer"):
        gp.read_reply("AECOURSE-PROBE other-nonce xyz\n", nonce)


def test_the_check_call_is_read_from_the_cell():
    assert gp.check_call("checks.check_auroc(auroc)") == ("check_auroc", "auroc")
    assert gp.check_call('checks.check_tap_counts(tap_counts)\nprint(tap_counts(5, 5, 2, 1).tolist())') == (
        "check_tap_counts", "tap_counts")
    assert gp.check_call('diagnose("x", out, ref, [], "")') is None
    assert gp.check_call("this is not python (") is None


def test_the_instructors_page_states_the_coverage_the_notebooks_have():
    import re

    total = probed = checks_probed = 0
    for path in sorted((ROOT / "exercises").glob("0[1-9]_*.ipynb")):
        for c in json.loads(path.read_text())["cells"]:
            meta = c["metadata"].get("nbgrader", {})
            if c["cell_type"] == "code" and meta.get("grade") and not meta.get("solution"):
                total += meta["points"]
                if gp.check_call("".join(c["source"]))[0] not in gp.UNPROBED:
                    probed += meta["points"]
                    checks_probed += 1
    page = (ROOT / "docs" / "instructors.md").read_text()
    stated = re.search(r"(\d+) of the (\d+) checks \((\d+) of (\d+) automatic points\)", page)
    assert stated and tuple(map(int, stated.groups())) == (checks_probed, len(CELLS), probed, total), stated


def test_value_verdicts_are_kept_for_the_next_student_with_the_same_answer(tmp_path):
    why = gp.judge("check_prediction_8_4", [], "B", cache=str(tmp_path))
    kept = list(tmp_path.glob("verdict-*.json"))
    assert why and len(kept) == 1 and json.loads(kept[0].read_text())["why"] == why
    kept[0].write_text(json.dumps({"why": "read from the folder"}))
    assert gp.judge("check_prediction_8_4", [], "B", cache=str(tmp_path)) == "read from the folder"
    assert gp.judge("check_prediction_8_4", [], "A", cache=str(tmp_path)) is None  # another answer: run again
