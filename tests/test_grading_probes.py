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
    helpers = importlib.import_module(f"test_checks_{notebook[:2]}")  # the notebook's given helpers (layer_pair)
    space: dict = {k: v for k, v in vars(helpers).items() if not k.startswith("_")}
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
    kinds = [gp.VALUE_CHECKS, set(gp.PROBED), set(gp.MODEL_PROBED), set(gp.UNPROBED)]
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


def _reply(obj) -> str:
    return "AECOURSE-PROBE n " + json.dumps(obj) + "\n"


def _tensor_node(dtype: str, shape: list, data: bytes) -> dict:
    return {"__tensor__": dtype, "shape": shape, "data": base64.b64encode(data).decode()}


def test_a_reply_is_plain_json_with_checked_tensors():
    """Nothing in a reply is unpickled: tensors are dtype, shape and bytes, which must agree."""
    got = gp.read_reply(_reply([{"out": _tensor_node("float32", [2], torch.tensor([1.0, 2.0]).numpy().tobytes())}]), "n")
    assert torch.equal(got[0]["out"], torch.tensor([1.0, 2.0]))
    for bad, why in [
        (_tensor_node("float32", [3], b"\0" * 8), "does not match its shape"),  # 8 bytes for 3 floats
        (_tensor_node("object", [1], b"\0"), "cannot read"),  # not a tensor dtype
        (_tensor_node("float32", [-1], b""), "cannot read"),
        (_tensor_node("uint8", [2**20], b"\0" * 2**20), "larger than 1 MB"),  # over the limit given below
        (json.loads("[" * 12 + "1" + "]" * 12), "nested too deeply"),
    ]:
        with pytest.raises(ValueError, match=why):
            gp.read_reply(_reply([{"out": bad}]), "n", limit=2**20)
    pickled = base64.b64encode(pickle.dumps([1, 2])).decode()  # a pickle is not JSON: refused, never loaded
    with pytest.raises(ValueError, match="cannot be read"):
        gp.read_reply(f"AECOURSE-PROBE n {pickled}\n", "n")
    with pytest.raises(ValueError, match="did not answer"):
        gp.read_reply("AECOURSE-PROBE other-nonce []\n", "n")


def test_answers_the_checks_accept_in_unusual_forms_are_confirmed():
    """From a review: inputs that require grad (retain_grad), a Decimal, a letter after much whitespace."""
    from decimal import Decimal

    def kl(mu_q, log_var_q, mu_p, log_var_p):
        log_var_q.retain_grad()  # fails on a tensor that does not require grad
        return 0.5 * (log_var_p - log_var_q + (log_var_q.exp() + (mu_q - mu_p) ** 2) / log_var_p.exp() - 1).sum(dim=1)

    with contextlib.redirect_stdout(io.StringIO()):
        checks.check_kl_diag_gaussians(kl)
    assert run_probe("check_kl_diag_gaussians", kl) is None
    assert run_probe("check_alignment_lr", Decimal("0.0003")) == run_probe("check_alignment_lr", 0.0003)
    assert run_probe("check_prediction_8_4", " " * 20_000 + "A") is None


def test_a_crash_of_the_graders_own_run_is_not_kept_as_a_verdict(tmp_path, monkeypatch):
    monkeypatch.setattr(gp, "TRUSTED", "import sys\nsys.exit(3)\n")  # as if the check's process were killed
    why = gp.judge("check_prediction_8_4", [], "A", cache=str(tmp_path))
    assert "the grader's own run of the check failed (exit status 3)" in why
    assert not list(tmp_path.iterdir())  # the next student with this answer gets a fresh run


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
