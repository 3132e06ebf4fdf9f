"""The grader's side of a student's kernel: nbgrader's Execute, made robust and watchful.

`SafeExecute` replaces nbgrader's Execute preprocessor inside `python -m aecourse grade`. It

- runs a trusted preamble before the first cell: it imports the checks and records what
  they and IPython's input pipeline look like before any student code runs;
- around every autograded check cell, runs a verification that compares the checks' code
  with fingerprints the grader computed in its own process, and the snapshot of the
  preamble with the kernel's present state; a change is reported as tampering;
- limits each cell's output (bytes) and the notebook's time (cells past the deadline are
  not run and score 0, with a note);
- when the kernel dies (`exit()`, `os._exit`, the memory limit) or cannot be interrupted,
  kills it, starts a fresh one, runs again the cells that had finished, and goes on: only
  the cell that killed it is lost.

Everything it finds goes to a JSON file (`report_path`) that the grade command reads.
"""

from __future__ import annotations

import json
import secrets
import time
from queue import Empty

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Integer, Unicode

# Shared by the grader (expected values) and the kernel (present values): keep it self-contained.
FINGERPRINT_SRC = r'''
def _aecourse_fingerprints():
    import hashlib, sys, types

    def code(co, h):
        h.update(co.co_code); h.update(repr(co.co_names).encode())
        for c in co.co_consts:
            if isinstance(c, types.CodeType):
                code(c, h)
            else:  # a frozenset's order changes with the hash seed
                h.update(repr(sorted(map(repr, c)) if isinstance(c, frozenset) else c).encode())

    def default(d, h):
        if isinstance(d, types.FunctionType):
            code(d.__code__, h)
        elif d is None or isinstance(d, (bool, int, float, str, bytes, tuple)):
            h.update(repr(d).encode())
        else:
            h.update(type(d).__name__.encode())

    out = {}
    names = sorted(m for m in list(sys.modules) if m == "aecourse.checks" or m.startswith("aecourse.checks."))
    for modname in names:
        for name, obj in sorted(vars(sys.modules[modname]).items()):
            items = [(name, obj)]
            if isinstance(obj, type) and obj.__module__.startswith("aecourse.checks"):
                items += [(f"{name}.{k}", v) for k, v in sorted(vars(obj).items())]
            for key, o in items:
                f = getattr(o, "__func__", o)
                if isinstance(f, types.FunctionType):
                    h = hashlib.sha256((f.__module__ + "." + f.__qualname__).encode())
                    code(f.__code__, h)
                    for d in (f.__defaults__ or ()) + tuple((f.__kwdefaults__ or {}).values()):
                        default(d, h)
                    out[f"{modname}:{key}"] = h.hexdigest()[:16]
    return out
'''

# Run once, before any student cell. {guard} is a per-notebook random module name.
PREAMBLE = FINGERPRINT_SRC + r'''
def _aecourse_preamble():
    import builtins, math, sys, types
    import torch, torch.nn.functional
    import aecourse.checks
    from aecourse.checks import core
    ip = get_ipython()
    modules = {"torch": torch, "torch.Tensor": torch.Tensor, "torch.TensorBase": torch._C.TensorBase,
               "torch.nn.functional": torch.nn.functional, "torch.linalg": torch.linalg,
               "torch.nn.Module": torch.nn.Module, "math": math}
    names = ("print isinstance getattr setattr len abs sum min max float int range zip any all repr type "
             "callable exec eval compile open __import__ hasattr iter next sorted").split()

    def state():
        found = {f"{m}.{k}": v for m, o in modules.items() for k, v in list(vars(o).items())}
        found.update({f"builtins.{k}": getattr(builtins, k, None) for k in names})
        for k in ("input_transformers_cleanup", "input_transformers_post", "ast_transformers"):
            found[f"ipython.{k}"] = tuple(getattr(ip, k, ()))
        manager = ip.input_transformer_manager
        for k in ("cleanup_transforms", "line_transforms", "token_transformers"):
            found[f"ipython.manager.{k}"] = tuple(getattr(manager, k, ()))
        found["ipython.manager"] = manager
        for k in ("run_cell", "run_cell_async", "run_code", "run_ast_nodes", "transform_cell",
                  "should_run_async", "showtraceback", "_showtraceback"):
            found[f"ipython.{k}"] = vars(ip).get(k)
            found[f"ipython.class.{k}"] = getattr(type(ip), k, None)
        found["ipython.compile"] = ip.compile
        found["ipython.custom_exceptions"] = ip.custom_exceptions
        found["ipython.events"] = {e: tuple(c) for e, c in ip.events.callbacks.items()}
        # a tracer can jump over a check's `fail(...)` line; sys.monitoring (3.12+) can do the same
        found["sys.gettrace"], found["sys.getprofile"] = sys.gettrace(), sys.getprofile()
        monitoring = getattr(sys, "monitoring", None)
        found["sys.monitoring"] = tuple(monitoring.get_tool(i) for i in range(6)) if monitoring else ()
        found["sys.modules.aecourse.checks"] = sys.modules.get("aecourse.checks")
        return found

    real_checks = sys.modules["aecourse.checks"]

    def rebound():  # check cells call checks.check_...(answer): `checks` must be the package itself
        user = ip.user_ns.get("checks", real_checks)
        return [] if user is real_checks else ["the name `checks` in the notebook (not aecourse.checks)"]

    def ask_exit(*args, **kwargs):  # exit() and quit() would stop the kernel a moment later
        print("note: exit() does nothing while the notebook is graded; the next cells run")
    ip.ask_exit = ask_exit
    before = state()

    def changed():
        now = state()
        return sorted(k for k, v in before.items() if k in now and not (now[k] is v or
                      (isinstance(v, (tuple, dict)) and now[k] == v) or
                      # torch._dynamo, imported lazily by torch itself, wraps manual_seed (harmless to the checks)
                      (k == "torch.manual_seed" and getattr(now[k], "__wrapped__", None) is v))) + rebound()

    guard = types.ModuleType("{guard}")
    guard.changed = changed
    sys.modules["{guard}"] = guard

_aecourse_preamble()
del _aecourse_preamble
'''

VERIFY = FINGERPRINT_SRC + r'''
def _aecourse_verify():
    import json, sys
    guard = sys.modules.get("{guard}")
    report = dict(nonce="{nonce}", fingerprints=_aecourse_fingerprints(),
                  changed=guard.changed() if guard else ["the grader's guard module"])
    sys.__stdout__.flush()
    print("AECOURSE-VERIFY " + json.dumps(report))

_aecourse_verify()
del _aecourse_verify, _aecourse_fingerprints
'''


def fingerprints() -> dict:
    """Return the checks' fingerprints as computed here, in the grader's own process."""
    import aecourse.checks  # noqa: F401

    space: dict = {}
    exec(FINGERPRINT_SRC, space)
    return space["_aecourse_fingerprints"]()


def _fresh_fingerprints() -> dict | None:
    """Return the checks' fingerprints from a new trusted process (the files as they are now)."""
    import subprocess
    import sys

    code = "import json; from aecourse.grading_kernel import fingerprints; print(json.dumps(fingerprints()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    try:
        return json.loads(out.stdout)
    except ValueError:
        return None


class SafeExecute(Execute):
    """nbgrader's Execute with a deadline, output limits, restarts after a dead kernel and tamper checks."""

    report_path = Unicode("", help="where to write what happened, as JSON").tag(config=True)
    notebook_timeout = Integer(900, help="seconds for the whole notebook").tag(config=True)
    cell_output_bytes = Integer(64_000, help="bytes of output kept per cell").tag(config=True)
    max_restarts = Integer(3, help="kernel restarts allowed per notebook").tag(config=True)
    probe_cache = Unicode("", help="the grader's folder for value verdicts, shared by all students").tag(config=True)
    sandbox_uid = Integer(-1, help="uid whose processes are killed before a restart (-1: none)").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self.events: dict = {"timing": [], "deaths": [], "timeouts": [], "truncated": [], "tamper": [], "skipped": [],
                             "verified": 0, "unconfirmed": [],
                                 "confirmed": [], "overruled": [], "unprobed": []}
        self._seed = secrets.randbelow(10**9)  # the probes' inputs: new for every submission
        self._confirm_left = float(self.notebook_timeout)  # the grader's own comparisons get a budget of their own
        self._guard = "_aecourse_guard_" + secrets.token_hex(6)
        self._deadline = time.monotonic() + self.notebook_timeout
        self._done: list[int] = []
        self._started = False
        self._expected = fingerprints()  # here, in the grader's process, just before the kernel imports them
        self._reported: set = set()
        self.timeout_func = lambda cell: max(1, min(self.timeout or 10**9, int(self._deadline - time.monotonic())))
        try:
            return super().preprocess(nb, resources, km)
        finally:
            if self.report_path:
                with open(self.report_path, "w") as f:
                    json.dump(self.events, f, indent=1)

    # -- hidden code: run in the kernel, not stored in the notebook -------------------------------

    async def _async_hidden(self, code: str, timeout: float) -> str | None:
        """Run code in the kernel without recording it; return its stdout, or None if it got no reply."""
        msg_id = self.kc.execute(code, silent=True, store_history=False, allow_stdin=False)
        out, end = [], time.monotonic() + timeout
        idle = replied = False
        while not (idle and replied):
            left = end - time.monotonic()
            if left <= 0 or not await self.kc.is_alive():
                return None
            try:
                if not idle:
                    msg = await self.kc.iopub_channel.get_msg(timeout=min(left, 1))
                    if msg["parent_header"].get("msg_id") != msg_id:
                        continue
                    if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
                        out.append(msg["content"]["text"])
                        while len(out) > 1 and sum(map(len, out)) > 32 << 20:  # keep the end, where replies are
                            out.pop(0)
                    idle = msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"
                else:
                    msg = await self.kc.shell_channel.get_msg(timeout=min(left, 1))
                    replied = msg["parent_header"].get("msg_id") == msg_id
            except Empty:
                pass
        return "".join(out)

    hidden = run_sync(_async_hidden)

    async def _async_restart(self) -> None:
        if self.sandbox_uid >= 0:
            from .sandbox import sweep

            sweep(self.sandbox_uid)
        await self.km.restart_kernel(now=True)
        await self.kc.wait_for_ready(timeout=self.startup_timeout)

    restart = run_sync(_async_restart)

    def _preamble(self) -> None:
        self.events["timing"].append(("preamble start", round(time.monotonic() - self._deadline + self.notebook_timeout, 1)))
        if self.hidden(PREAMBLE.replace("{guard}", self._guard), 120) is None:
            self.events["tamper"].append("the grader's preamble did not run (kernel died or hung)")

    def _verify(self, where: str) -> None:
        start = time.monotonic()
        try:
            self._verify_once(where)
        finally:
            self._deadline += time.monotonic() - start  # the grader's time, not the student's

    def _verify_once(self, where: str) -> None:
        nonce = secrets.token_hex(8)
        code = VERIFY.replace("{guard}", self._guard).replace("{nonce}", nonce)
        out = self.hidden(code, 60)
        lines = [ln for ln in (out or "").splitlines() if ln.startswith("AECOURSE-VERIFY ")]
        try:
            report = json.loads(lines[-1].split(" ", 1)[1])
            assert report["nonce"] == nonce
        except (IndexError, ValueError, KeyError, AssertionError):
            self.events["tamper"].append(f"{where}: the grader's verification did not run as sent "
                                         "(cells are being intercepted, or the kernel died)")
            return
        self.events["verified"] += 1
        bad = sorted(k for k, v in self._expected.items() if report["fingerprints"].get(k) != v
                     and k not in self._reported)
        if bad:  # the package may have changed on disk since: compare with a fresh import too
            fresh = _fresh_fingerprints()
            if fresh and all(report["fingerprints"].get(k) == fresh.get(k) for k in bad):
                self.events["changed_on_disk"] = bad
                self._expected.update({k: fresh[k] for k in bad})
                bad = []
        self._reported |= set(bad)
        if bad:
            self.events["tamper"].append(f"{where}: check code differs from the installed package: "
                                         + ", ".join(bad[:8]) + (" ..." if len(bad) > 8 else ""))
        changed = [k for k in report["changed"] if k not in self._reported]
        self._reported |= set(changed)
        if changed:
            self.events["tamper"].append(f"{where}: changed since the preamble: " + ", ".join(changed[:8]))

    # -- cells ---------------------------------------------------------------------------------

    def _note(self, cell: NotebookNode, ename: str, text: str) -> None:
        cell.outputs.append(NotebookNode(output_type="error", ename=ename, evalue=text,
                                         traceback=[f"{ename}: {text}"]))

    def _is_check(self, cell: NotebookNode) -> bool:
        meta = cell.metadata.get("nbgrader", {})
        return cell.cell_type == "code" and meta.get("grade") and not meta.get("solution")

    def preprocess_cell(self, cell, resources, index, retry=False):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, self.resources
        name = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {index}")
        if time.monotonic() >= self._deadline or len(self.events["deaths"]) > self.max_restarts:
            cell.outputs = []
            why = "the notebook's time limit" if time.monotonic() >= self._deadline else "too many kernel deaths"
            self._note(cell, "NotRun", f"not run: {why} was reached before this cell")
            self.events["skipped"].append(name)
            return cell, self.resources
        if not self._started:
            self._started = True
            self._preamble()
        check = self._is_check(cell)
        if check:
            self._verify(f"before {name}")
        self._cell_bytes, self._cell_truncated = 0, False
        try:
            cell = self.execute_cell(cell, index, store_history=True)
            died = not run_sync(self.kc.is_alive)()
        except DeadKernelError:
            died = True
        except CellTimeoutError:
            self.events["timeouts"].append(f"{name}: did not stop when interrupted; the kernel was killed")
            self._note(cell, "CellTimeoutError", "this cell ran past the time limit and ignored the interrupt; "
                                                 "the kernel was restarted")
            self.events["deaths"].append(name)
            self._recover()
            return cell, self.resources
        if died:
            self._recover()
            if not retry and len(self.events["deaths"]) < self.max_restarts:
                # The kernel may have died at the end of an earlier cell: run this one once more.
                self.events["deaths"].append(f"{name} (run again after a restart)")
                return self.preprocess_cell(cell, resources, index, retry=True)
            self.events["deaths"].append(name)
            self._note(cell, "KernelDied", "the kernel stopped in this cell (exit(), os._exit(), a crash or "
                                           "the memory limit); it was restarted and the cells before it run again")
            return cell, self.resources
        if any(o.get("ename") == "CellTimeoutError" for o in cell.outputs):
            self.events["timeouts"].append(f"{name}: interrupted at the time limit")
        self._done.append(index)
        self.events["timing"].append((name, round(time.monotonic() - self._deadline + self.notebook_timeout, 1)))
        if check:
            self._verify(f"after {name}")
            text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
            if "✓" not in text and not any(o.get("output_type") == "error" for o in cell.outputs):
                self.events["unconfirmed"].append(name)
            self._confirm(cell, name)
        return cell, self.resources

    def _confirm(self, cell: NotebookNode, name: str) -> None:
        """Confirm a passed check outside the kernel (aecourse.grading_probes); if that fails, the cell scores 0.

        Its time is not the student's: the notebook's deadline moves by as much, and the comparisons
        share a budget of their own (notebook_timeout), after which a check is not confirmed."""
        start = time.monotonic()
        try:
            self._confirm_within_budget(cell, name)
        finally:
            spent = time.monotonic() - start
            self._deadline += spent
            self._confirm_left -= spent

    def _confirm_within_budget(self, cell: NotebookNode, name: str) -> None:
        from . import grading_probes as probes
        from .grading_models import Unconfirmable

        if any(o.get("output_type") == "error" for o in cell.outputs):
            return  # the check failed in the kernel: nothing to confirm
        found = probes.check_call(cell.source)
        made = found and probes.kernel_code(*found, self._seed, nonce := secrets.token_hex(8))
        if not made:
            self.events["unprobed"].append(f"{name} ({probes.UNPROBED.get(found[0], 'no probe') if found else 'no check call'})")
            return
        code, cases = made
        try:
            if self._confirm_left < 1:
                raise TimeoutError("the grader's time for its own comparisons ran out (the notebook's time limit)")
            reply = probes.read_reply(self.hidden(code, min(self._get_timeout(None) or 60, self._confirm_left)), nonce)
            why = probes.judge(found[0], cases, reply, timeout=max(1, self._confirm_left), cache=self.probe_cache)
        except Unconfirmable as err:  # a model the grader cannot rebuild: the kernel's verdict stands
            self.events["unprobed"].append(f"{name} ({err})")
            return
        except Exception as err:  # a reply that cannot be read, a timeout: not confirmed
            why = f"{type(err).__name__}: {str(err)[:300]}"
        if why is None:
            self.events["confirmed"].append(name)
            return
        self.events["overruled"].append(f"{name}: {why}")
        self._note(cell, "GraderCheck", "✗ the grader's own comparison, made outside your kernel on new inputs, does "
                                        f"not confirm this check, so it scores 0: {why}")

    def _recover(self) -> None:
        """Start a fresh kernel and run again the cells that had finished (their outputs are kept).

        A cell that kills the kernel again while it is run again is dropped, with a note: it is the culprit."""
        for _ in range(self.max_restarts):
            self.restart()
            self._preamble()
            for i in self._done:
                if self.hidden(self.nb.cells[i].source, self._get_timeout(None) or 60) is None:
                    name = self.nb.cells[i].metadata.get("nbgrader", {}).get("grade_id", f"cell {i}")
                    self.events["deaths"].append(f"{name} (when run again)")
                    self._note(self.nb.cells[i], "KernelDied", "the kernel stopped after this cell (exit(), "
                               "os._exit(), a process left behind or the memory limit); later cells ran in a "
                               "fresh kernel without it")
                    self._done.remove(i)
                    break
            else:
                return

    def output(self, outs, msg, display_id, cell_index):
        """Keep at most cell_output_bytes of a cell's output; say where it was cut."""
        if getattr(self, "_cell_truncated", False):
            return None
        content = msg.get("content", {})
        size = len(json.dumps(content, default=str))
        self._cell_bytes = getattr(self, "_cell_bytes", 0) + size
        self._nb_bytes = getattr(self, "_nb_bytes", 0) + size
        if self._cell_bytes <= self.cell_output_bytes and self._nb_bytes <= 16 * self.cell_output_bytes:
            return super().output(outs, msg, display_id, cell_index)
        self._cell_truncated = True
        self.events["truncated"].append(cell_index)
        keep = max(0, min(self.cell_output_bytes - (self._cell_bytes - size),
                          16 * self.cell_output_bytes - (self._nb_bytes - size)))
        note = (f"\n[output cut here: this cell printed more than {self.cell_output_bytes // 1000} kB, or the "
                f"notebook more than {16 * self.cell_output_bytes // 1000} kB: the grader's limits]\n")
        if msg["msg_type"] == "stream":
            text = content.get("text", "")[:keep]
            out = NotebookNode(output_type="stream", name=content.get("name", "stdout"), text=text + note)
        elif msg["msg_type"] == "error":
            out = NotebookNode(output_type="error", ename=str(content.get("ename", "Error"))[:200],
                               evalue=str(content.get("evalue", ""))[:keep] + note,
                               traceback=[str(t)[:keep] for t in content.get("traceback", [])[:20]])
        else:
            out = NotebookNode(output_type="stream", name="stdout", text=note)
        outs.append(out)
        return out
