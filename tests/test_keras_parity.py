"""The Keras pieces (aecourse.keras) agree with the PyTorch lessons, on the TensorFlow and the torch backend.

Keras picks its backend once, at import, so each backend runs tests/keras_parity_cases.py
in a fresh process. Skipped when Keras is not installed (pip install -e ".[all]" has it).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("keras")
HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize("backend", ["tensorflow", "torch"])
def test_keras_pieces_match_pytorch(backend):
    if backend == "tensorflow":
        pytest.importorskip("tensorflow")
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(HERE / "keras_parity_cases.py")],
                         cwd=HERE.parent, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and "skipped" not in out.stdout, out.stdout[-2000:]
