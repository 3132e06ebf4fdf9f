"""The grader's own comparison: a check's points that student code cannot forge.

Inside `python -m aecourse grade`, every check cell runs in the student's kernel, where it gives
the feedback the learner saw while working, and where the learner's code could tamper with it.
The grader then confirms each check that passed, where the student's code cannot reach:

- a value answer (a letter, a number): the kernel reports the value, and the grader runs the
  real check on that plain value in a fresh process of its own, which runs no student code;
- a function answer: the grader draws inputs with a secret seed, the kernel returns the
  learner's function's outputs on them as plain tensors, and the grader compares them with
  its own references (aecourse/grading_references.py).

A check cell keeps its points only if both agree. A probe compares the computation the exercise
asks for, with tolerances looser than the check's; the check in the kernel still judges the
rest (gradients, the exercise's rules, the device). Five answers are objects that their check
must hold itself (modules, trained models, training procedures that call back into the check):
they have no probe and keep the kernel's verdict, watched by the tamper detection of
grading_kernel.py. `PROBED` and `UNPROBED` list which is which.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from .grading_references import PROBED, Probe  # noqa: F401  (Probe: re-exported)

VALUE_CHECKS = {  # check function: the answer is a plain value that the real check judges
    "check_bias_free_prediction", "check_alignment_lr", "check_saturation_prediction", "check_prediction_3_3",
    "check_beta_3_4", "check_prediction_4_3", "check_lr_4_4", "check_prediction_5_3", "check_cae_lambda",
    "check_prediction_6_3", "check_finetune_lr", "check_prediction_7_4", "check_prediction_7_5",
    "check_prediction_8_4", "check_prediction_8_5", "check_beta_rate", "check_lowest_scored_digit",
    "check_retrieval_code_size",
}
UNPROBED = {  # answers whose checks need the learner's objects themselves: the kernel's verdict stands
    "check_pretrain_layerwise": "a training procedure that calls back into the check",
    "check_train_top_layer": "a training step on modules the check inspects",
    "check_conv_decoder": "a module the check inspects layer by layer",
    "check_small_autoencoder": "a trained model of the learner's own architecture",
    "check_param_budget": "a trained model of the learner's own architecture",
}

# Run in the student's kernel, hidden: report the answer, or the answer's outputs on the grader's inputs.
KERNEL_CODE = r'''
def _aecourse_probe():
    import base64, io, numbers, torch
    from torch import nn
    answer = get_ipython().user_ns.get("{name}")

    def plain(v, depth=0):
        if isinstance(v, torch.Tensor):
            return v.detach().cpu().clone()
        if isinstance(v, bool):
            return bool(v)
        if isinstance(v, numbers.Integral):
            return int(v)
        if isinstance(v, numbers.Real):
            return float(v)
        if isinstance(v, str):
            return str(v)[:10000]
        if v is None:
            return None
        if hasattr(v, "__array__") and depth < 3:
            import numpy
            return plain(torch.as_tensor(numpy.asarray(v)), depth + 1)
        if isinstance(v, (list, tuple)) and depth < 3 and len(v) <= 64:
            return [plain(x, depth + 1) for x in v]
        return {"unexported type": type(v).__name__}

    def build(spec, built):
        kind = spec["__build__"]
        if kind == "optimizer":
            return torch.optim.SGD(built[-1].parameters(), lr=spec["lr"])
        layers = {"linear_ae": lambda: nn.Sequential(nn.Linear(*spec["sizes"]), nn.Linear(*spec["sizes"][::-1])),
                  "scorer": lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, spec["sizes"][1]), nn.ReLU(),
                                                  nn.Dropout(0.5), nn.Linear(spec["sizes"][1], 784), nn.Sigmoid())}
        model = layers[kind]()
        with torch.no_grad():
            for p, w in zip(model.parameters(), spec["weights"]):
                p.copy_(w)
        model.train(spec.get("training", True))
        built.append(model)
        return model

    if "{kind}" == "value":
        out = plain(answer)
    else:
        cases = torch.load(io.BytesIO(base64.b64decode("{blob}")), weights_only=True)
        out = []
        for args in cases:
            built = []
            args = [build(a, built) if isinstance(a, dict) and "__build__" in a else a for a in args]
            try:
                got = {"out": plain(answer(*args))}
            except BaseException as err:
                got = {"error": f"{type(err).__name__}: {err}"[:300]}
            got["after"] = [[p.detach().clone() for p in m.parameters()] + [m.training] for m in built]
            out.append(got)
    buf = io.BytesIO()
    torch.save(out, buf)
    print("AECOURSE-PROBE {nonce} " + base64.b64encode(buf.getvalue()).decode())

_aecourse_probe()
del _aecourse_probe
'''


# -- what the grader calls -----------------------------------------------------------------------------


def check_call(source: str) -> tuple[str, str] | None:
    """Return (check function, answer name) of a check cell such as `checks.check_auroc(auroc)`, else None."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Name):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name.startswith("check_"):
                return name, node.args[0].id
    return None


def kernel_code(check: str, answer: str, seed: int, nonce: str) -> tuple[str, list] | None:
    """Return (code for the student's kernel, the cases it holds), or None if this check has no probe."""
    import torch

    if check in VALUE_CHECKS:
        return KERNEL_CODE.replace("{kind}", "value").replace("{name}", answer).replace("{nonce}", nonce), []
    if check not in PROBED:
        return None
    cases = PROBED[check]().cases(seed)
    buf = io.BytesIO()
    torch.save(cases, buf)
    blob = base64.b64encode(buf.getvalue()).decode()
    code = KERNEL_CODE.replace("{kind}", "function").replace("{name}", answer).replace("{nonce}", nonce)
    return code.replace("{blob}", blob), cases


def read_reply(stdout: str | None, nonce: str, limit: int = 16 << 20):
    """Return what the kernel reported after the marker with this nonce; raise ValueError if it did not."""
    import torch

    lines = [ln for ln in (stdout or "").splitlines() if ln.startswith(f"AECOURSE-PROBE {nonce} ")]
    if not lines:
        raise ValueError("the kernel did not answer the grader's probe (the answer hung or crashed the kernel, "
                         "or the code the grader sent was changed on its way)")
    data = base64.b64decode(lines[-1].split(" ", 2)[2][:limit], validate=False)
    return torch.load(io.BytesIO(data), weights_only=True)


TRUSTED = ("import json, sys\nfrom aecourse import checks\n"
           "getattr(checks, sys.argv[1])(json.loads(sys.argv[2]))\n")


def judge(check: str, cases: list, reply, timeout: float = 600, cache: str = "") -> str | None:
    """Return None when the answer is right by the grader's own comparison, else why not (one line).

    cache: a folder of the grader's where value verdicts are kept (one run of an experiment's check
    per distinct answer, whichever students give it); empty for none.
    """
    if check in VALUE_CHECKS:
        value = reply
        if hasattr(value, "numel") and value.numel() == 1:  # a one-number tensor or array
            value = value.reshape(()).tolist()
        if not isinstance(value, (str, int, float, bool, type(None), list)):
            kind = value.get("unexported type") if isinstance(value, dict) else type(value).__name__
            return f"the answer is a {kind}, which the grader cannot read as a value (give a letter or a number)"
        try:
            text = json.dumps(value, allow_nan=True)
        except (TypeError, ValueError):
            return "the answer is not a plain value (a letter or a number)"
        key = hashlib.sha256(json.dumps([check, text, os.environ.get("AECOURSE_MODE", "")]).encode()).hexdigest()
        kept = Path(cache) / f"verdict-{key[:32]}.json" if cache else None
        if kept and kept.is_file():
            return json.loads(kept.read_text())["why"]
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        proc = subprocess.run([sys.executable, "-I", "-c", TRUSTED, check, text], capture_output=True, text=True,
                              timeout=timeout, env=env)
        why = None
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.splitlines() if "✗" in ln] or proc.stderr.strip().splitlines()[-1:]
            why = (lines[-1] if lines else "the check failed").split("✗", 1)[-1].strip()[:400]
        if kept:
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_text(json.dumps({"check": check, "answer": text, "why": why}))
        return why
    return PROBED[check]().judge(cases, reply)
