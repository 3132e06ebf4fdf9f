"""The grader's own comparison: a check's points that student code cannot forge.

Inside `python -m aecourse grade`, every check cell runs in the student's kernel, where it gives
the feedback the learner saw while working, and where the learner's code could tamper with it.
The grader then confirms each check that passed, where the student's code cannot reach:

- a value answer (a letter, a number): the kernel reports the value, and the grader runs the
  real check on that plain value in a fresh process of its own, which runs no student code;
- a function answer: the grader draws inputs with a secret seed, the kernel returns the
  learner's function's outputs on them as plain tensors, and the grader compares them with
  its own references (aecourse/grading_references.py, grading_references_later.py).

A check cell keeps its points only if both agree. A probe compares the computation the exercise
asks for, with tolerances looser than the check's; the check in the kernel still judges the
rest (gradients, the exercise's rules, the device). A trained model is described by the kernel
as standard layers and weights, which the grader rebuilds and measures itself
(aecourse/grading_models.py); exercise 6.1's pretraining runs with a train_pair of the grader's,
whose record the grader checks (aecourse/grading_pretrain.py). A check with no probe (one written
in a notebook) keeps the kernel's verdict, watched by the tamper detection of grading_kernel.py. `VALUE_CHECKS`, `PROBED`, `MODEL_PROBED` and `UNPROBED` list which is which.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

from .grading_models import MODEL_PROBED, export_code
from .grading_pretrain import TRAINER_CODE
from .grading_references import EARLIER
from .grading_references_later import LATER

PROBED = {**EARLIER, **LATER}  # function answers: check function -> its probe
VALUE_CHECKS = {  # check function: the answer is a plain value that the real check judges
    "check_bias_free_prediction", "check_alignment_lr", "check_saturation_prediction", "check_prediction_3_3",
    "check_beta_3_4", "check_prediction_4_3", "check_lr_4_4", "check_prediction_5_3", "check_cae_lambda",
    "check_prediction_6_3", "check_finetune_lr", "check_prediction_7_4", "check_prediction_7_5",
    "check_prediction_8_4", "check_prediction_8_5", "check_beta_rate", "check_lowest_scored_digit",
    "check_retrieval_code_size",
}
UNPROBED: dict[str, str] = {}  # answers whose checks only the kernel can run (none left): the kernel's verdict stands

# Run in the student's kernel, hidden: report the answer, or the answer's outputs on the grader's inputs.
KERNEL_CODE = r'''
def _aecourse_probe():
    import base64, json, numbers, torch
    from torch import nn
    answer = get_ipython().user_ns.get("{name}")

    def plain(v, depth=0):  # the reply: JSON, tensors as dtype, shape and raw bytes (the grader unpickles nothing)
        if isinstance(v, torch.Tensor):
            t = v.detach().cpu().contiguous()
            return {"__tensor__": str(t.dtype).removeprefix("torch."), "shape": list(t.shape),
                    "data": base64.b64encode(t.view(-1).view(torch.uint8).numpy().tobytes()).decode()}
        if isinstance(v, bool):
            return bool(v)
        if isinstance(v, numbers.Integral):
            return int(v)
        if isinstance(v, numbers.Real):
            return float(v)
        if isinstance(v, str):
            return str(v).strip()[:1000]
        if v is None:
            return None
        if hasattr(v, "__array__") and depth < 3:
            import numpy
            return plain(torch.as_tensor(numpy.asarray(v)), depth + 1)
        if isinstance(v, (list, tuple)) and depth < 3 and len(v) <= 64:
            return [plain(x, depth + 1) for x in v]
        if hasattr(v, "__float__"):  # Decimal, say
            return float(v)
        return {"unexported type": type(v).__name__}

    def describe(module, z):  # a decoder as data: its layers' kinds, their output shapes on z, its parameters
        if not isinstance(module, nn.Sequential):
            return {"unexported type": type(module).__name__}

        def leaves(m):
            found = []
            for child in m:
                if isinstance(child, nn.Sequential):
                    found += leaves(child)
                elif not isinstance(child, nn.Identity):
                    found.append(child)
            return found
        kinds, shapes, h = [], [], z
        for layer in leaves(module):
            kinds.append(next((b.__name__ for b in (nn.Upsample, nn.ReLU, nn.Conv2d, nn.ConvTranspose2d, nn.MaxPool2d,
                                                     nn.Sigmoid) if isinstance(layer, b)), type(layer).__name__))
            with torch.no_grad():
                h = layer(h)
            shapes.append(list(h.shape))
        return {"kinds": kinds, "shapes": shapes, "params": sum(p.numel() for p in module.parameters())}

    def build(spec, built):
        if "__grad__" in spec:  # an input that requires grad, as the check passes it: a leaf, or not
            t = spec["__grad__"].clone().requires_grad_()
            return t if spec["leaf"] else t * 1.0
        kind = spec["__build__"]
        if kind == "optimizer":
            return torch.optim.SGD(built[-1].parameters(), lr=spec["lr"])
        if kind == "optimizer_all":  # over every module built so far, as the check of exercise 6.2 gives it
            return torch.optim.SGD([p for m in built for p in m.parameters()], lr=spec["lr"])
        if kind == "trainer":
            return Trainer(spec["steps"])
        if kind == "stack_decoder":
            return built[-1]
        if kind == "frozen_stack":  # the layers of exercise 6.2's check: lower ones in train mode, the top in eval
            sizes, n = spec["sizes"], len(spec["sizes"])
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
                top = i == n - 2
                built.append(nn.Sequential(nn.Linear(a, b), nn.BatchNorm1d(b), *([] if top else [nn.SiLU()])))
            built.append(nn.Sequential(nn.Linear(sizes[-1], sizes[-2]), nn.SiLU()))
            for m, state in zip(built, spec["states"]):
                m.load_state_dict(state)
                m.train(m not in built[-2:])
                if m in built[-2:]:
                    for p in m.parameters():
                        p.grad = torch.full_like(p, spec["stale"])
            return built[:-1]
        d, k = spec["sizes"]
        if kind == "linear_ae":  # the model of the check of exercise 1.1: .encoder and .decoder, D = 784
            from aecourse.checks.core import Autoencoder
            model = Autoencoder(nn.Linear(d, k), nn.Linear(k, d))
        else:
            model = nn.Sequential(nn.Flatten(), nn.Linear(d, k), nn.ReLU(), nn.Dropout(0.5), nn.Linear(k, d),
                                  nn.Sigmoid())
        with torch.no_grad():
            for p, w in zip(model.parameters(), spec["weights"]):
                p.copy_(w)
        model.train(spec.get("training", True))
        built.append(model)
        return model

{export}
    if "{kind}" == "value":
        out = plain(answer)
    else:
        import io
        cases = torch.load(io.BytesIO(base64.b64decode("{blob}")), weights_only=True)
    if "{kind}" == "model":
        out = export(answer, cases[0][0])
    elif "{kind}" == "function":
        out = []
        for args in cases:
            built = []
            trace = [a["__trace__"] for a in args if isinstance(a, dict) and "__trace__" in a]
            args = [build(a, built) if isinstance(a, dict) else a for a in args
                    if not (isinstance(a, dict) and "__trace__" in a)]
            trainer = next((a for a in args if isinstance(a, Trainer)), None)
            try:
                result = answer(*args)
                got = {"out": describe(result, trace[0]) if trace else
                       trainer.returned(result) if trainer else plain(result)}
            except BaseException as err:
                got = {"error": f"{type(err).__name__}: {err}"[:300]}
            got["after"] = [[plain(p) for p in m.parameters()] + [m.training] for m in built]
            got["buffers"] = [[plain(b) for b in m.buffers()] for m in built]
            got["trainable"] = all(p.requires_grad for m in built for p in m.parameters())
            if trainer:
                got["calls"] = trainer.calls
            out.append(got)
    print("AECOURSE-PROBE {nonce} " + json.dumps(out))

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
        kind, cases = "value", []
    elif check in PROBED or check in MODEL_PROBED:
        kind, cases = ("function", PROBED[check]().cases(seed)) if check in PROBED else \
            ("model", MODEL_PROBED[check]().cases(seed))
    else:
        return None
    buf = io.BytesIO()
    torch.save(cases, buf)
    code = KERNEL_CODE.replace("{kind}", kind).replace("{name}", answer).replace("{nonce}", nonce)
    code = code.replace("{blob}", base64.b64encode(buf.getvalue()).decode())
    return code.replace("{export}", export_code() + TRAINER_CODE), cases  # last: the layer table holds braces of its own


DTYPES = ("float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16",
          "uint32", "uint64", "bool", "complex64", "complex128", "float8_e4m3fn", "float8_e5m2")


def _decode(node, depth: int = 0):
    """Return the reply's JSON with tensors rebuilt from dtype, shape and bytes; raise ValueError on anything else."""
    import torch

    if depth > 10:
        raise ValueError("the reply is nested too deeply")
    if isinstance(node, list):
        return [_decode(x, depth + 1) for x in node]
    if not isinstance(node, dict):
        return node
    if "__tensor__" not in node:
        return {str(k): _decode(v, depth + 1) for k, v in node.items()}
    dtype = getattr(torch, str(node["__tensor__"]), None) if node["__tensor__"] in DTYPES else None
    shape = node.get("shape")
    if not isinstance(dtype, torch.dtype) or not (isinstance(shape, list) and all(
            isinstance(n, int) and not isinstance(n, bool) and 0 <= n for n in shape)):
        raise ValueError(f"the reply holds a tensor the grader cannot read ({str(node['__tensor__'])[:40]})")
    raw = base64.b64decode(str(node.get("data", "")), validate=True)
    size = dtype.itemsize * math.prod(shape)
    if len(raw) != size:  # the reply's length is capped as text, before anything is decoded
        raise ValueError("the reply's tensor data does not match its shape")
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype).reshape(shape) if size else \
        torch.empty(shape, dtype=dtype)


def read_reply(stdout: str | None, nonce: str, limit: int = 32 << 20):
    """Return what the kernel reported after the marker with this nonce; raise ValueError if it did not.

    The reply is JSON (at most limit characters); its tensors are dtype, shape and raw bytes, checked
    against each other. Nothing in it is unpickled or run.
    """
    lines = [ln for ln in (stdout or "").splitlines() if ln.startswith(f"AECOURSE-PROBE {nonce} ")]
    if not lines:
        raise ValueError("the kernel did not answer the grader's probe (the answer hung or crashed the kernel, "
                         "or the code the grader sent was changed on its way)")
    text = lines[-1].split(" ", 2)[2]
    if len(text) > limit:
        raise ValueError(f"the reply is larger than {limit >> 20} MB")
    try:
        return _decode(json.loads(text))
    except (RecursionError, TypeError, KeyError, ValueError) as err:
        raise ValueError(f"the reply cannot be read: {str(err)[:200]}") from None


TRUSTED = ("import json, sys\nfrom aecourse import checks\n"
           "getattr(checks, sys.argv[1])(json.loads(sys.argv[2]))\n")


def judge(check: str, cases: list, reply, timeout: float = 600, cache: str = "") -> str | None:
    """Return None when the answer is right by the grader's own comparison, else why not (one line).

    cache: a folder of the grader's where value verdicts are kept (one run of an experiment's check
    per distinct answer, whichever students give it); empty for none.
    """
    if check in VALUE_CHECKS:
        value = reply
        if hasattr(value, "numel") and value.numel() == 1 and not value.dtype.is_complex:  # a one-number tensor
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
        diagnosed = [ln for ln in proc.stderr.splitlines() if "✗" in ln]
        if proc.returncode != 0 and not diagnosed:  # a crash of the check's process, not a verdict: once more
            proc = subprocess.run([sys.executable, "-I", "-c", TRUSTED, check, text], capture_output=True,
                                  text=True, timeout=timeout, env=env)
            diagnosed = [ln for ln in proc.stderr.splitlines() if "✗" in ln]
        if proc.returncode != 0 and not diagnosed:  # not kept: the next student's answer runs it again
            return f"the grader's own run of the check failed (exit status {proc.returncode}): " + \
                   " ".join(proc.stderr.strip().splitlines()[-1:])[:300]
        why = diagnosed[-1].split("✗", 1)[-1].strip()[:400] if proc.returncode != 0 else None
        if kept:
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_text(json.dumps({"check": check, "answer": text, "why": why}))
        return why
    return (PROBED[check] if check in PROBED else MODEL_PROBED[check])().judge(cases, reply)
