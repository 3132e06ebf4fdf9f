"""The Keras companions run only where Keras and the backend they will use are installed.

Without them (a plain `pip install -e ".[dev]"`), each companion is reported as skipped
with the command that installs what it needs, instead of failing at `import keras`.
The backend is $KERAS_BACKEND, TensorFlow by default as in the notebooks' setup cell.
"""

import importlib.util
import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")


def _missing() -> list[str]:
    return [name for name in ("keras", BACKEND) if importlib.util.find_spec(name) is None]


def pytest_collection_modifyitems(config, items):
    missing = _missing()
    if not missing:
        return
    skip = pytest.mark.skip(reason=f"the Keras companions need {' and '.join(missing)} "
                                   f"(KERAS_BACKEND={BACKEND}): pip install -e \".[keras]\"")
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(skip)
