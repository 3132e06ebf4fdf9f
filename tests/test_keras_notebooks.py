"""Each Keras companion (notebooks/keras) executes on the second Keras backend too.

The root pytest run executes the companions with nbval on the backend of $KERAS_BACKEND
(TensorFlow by default, as on Colab), like every other notebook. This test runs each one
once more, in smoke mode, on the other backend (torch, or TensorFlow when the run itself
uses torch): Keras picks its backend once per process, so each run is a fresh pytest
process whose notebook kernel inherits KERAS_BACKEND. Skipped without Keras or that backend.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPANIONS = sorted((ROOT / "notebooks" / "keras").glob("[0-9][0-9]_*.ipynb"))
OTHER = "tensorflow" if os.environ.get("KERAS_BACKEND", "tensorflow") == "torch" else "torch"


def test_there_is_a_companion_per_lesson_02_to_08():
    lessons = {p.name for p in (ROOT / "notebooks").glob("0[2-8]_*.ipynb")}
    assert lessons and lessons <= {p.name for p in COMPANIONS}, "a Keras companion keeps its lesson's file name"


@pytest.mark.parametrize("notebook", COMPANIONS, ids=[p.stem for p in COMPANIONS])
def test_companion_runs_on_the_other_backend(notebook):
    for name in ("keras", OTHER, "nbval"):
        if importlib.util.find_spec(name) is None:
            pytest.skip(f"needs {name}: pip install -e \".[all]\"")
    env = dict(os.environ, KERAS_BACKEND=OTHER, AECOURSE_MODE="smoke", TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                          "--nbval-current-env", str(notebook.relative_to(ROOT))],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, f"{notebook.name} failed on KERAS_BACKEND={OTHER}:\n{out.stdout[-8000:]}{out.stderr[-2000:]}"
    assert " passed" in out.stdout and "skipped" not in out.stdout, out.stdout[-2000:]
