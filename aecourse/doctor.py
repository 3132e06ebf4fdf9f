"""`python -m aecourse doctor`: what this environment has, and what to fix before the course runs."""

from __future__ import annotations

import importlib
import os
import platform
import sys
import textwrap
from pathlib import Path

from . import DEPENDENCIES

ESSENTIAL = DEPENDENCIES
WIDTH = 78  # wrap long lines here, between words, so that no output area breaks one mid-word
OPTIONAL = {
    "ipywidgets": "interactive sliders fall back to static figures; fix: pip install ipywidgets",
    "keras": "needed only for notebooks/keras; fix: pip install 'aecourse[keras]'",
    "tensorflow": "needed only for notebooks/keras on the TensorFlow backend; fix: pip install 'aecourse[keras]'",
}
INSTALL_NAME = {"sklearn": "scikit-learn"}


def _version(module: str) -> str | None:
    try:
        mod = importlib.import_module(module)
    except Exception:  # an import can fail in many ways (missing, broken build); report, don't crash
        return None
    if getattr(mod, "__file__", None) is None:  # a bare folder of that name, not the package
        return None
    return getattr(mod, "__version__", "installed")


def _check_mnist() -> tuple[bool, str]:
    from . import data

    places = set()
    try:
        for key in data.MNIST.files:
            hit = data.locate(data.MNIST, key)
            if hit is None:
                return True, ("not on this machine yet: load_mnist() will download it into "
                              f"{data.cache_dir() / 'mnist'} (needs internet)")
            data.read_idx(data.MNIST, key, allow_download=False)
            places.add(f"{hit[1]} ({hit[0].parent})")
    except data.DataError as err:
        return False, str(err)
    return True, f"4 files verified, in {', '.join(sorted(places))}"


def _check_widgets() -> str | None:
    """Return the ipywidgets version if a slider can be made, else None."""
    try:
        import ipywidgets

        ipywidgets.IntSlider(value=1, min=0, max=2)
    except Exception:  # missing or broken: the lessons fall back to static figures
        return None
    return f"{ipywidgets.__version__} (sliders available)"


def run() -> int:
    """Print the environment report; return 0 if everything essential is there, else 1."""
    problems = []
    rows = [("python", platform.python_version()), ("platform", platform.platform(terse=True))]
    missing = []
    for module in ESSENTIAL:
        name, version = INSTALL_NAME.get(module, module), _version(module)
        rows.append((name, version or "MISSING"))
        if version is None:
            missing.append(name)
    if missing:  # the rest needs torch and numpy
        _print(rows, [_missing_fix(missing)])
        return 1
    from . import __version__, config

    rows.insert(1, ("aecourse", __version__))
    for module, why in OPTIONAL.items():
        version = _check_widgets() if module == "ipywidgets" else _version(module)
        rows.append((module, version or f"not available: {why}"))
    device = config.get_device(verbose=False)
    rows.append(("device", f"{device.type}" + (" (no GPU: fine for smoke and standard modes)" if device.type == "cpu" else "")))
    try:
        rows.append(("mode", config.describe_mode().removeprefix("mode: ")))
    except ValueError as err:
        problems.append(str(err))
    ok, where = _check_mnist()
    rows.append(("MNIST", where if ok else "PROBLEM (see below)"))
    if not ok:
        problems.append(where)
    _print(rows, problems)
    return 1 if problems else 0


def _missing_fix(missing: list[str]) -> str:
    """Say why the course's packages are missing from this Python, and the fix."""
    what = f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing from this Python ({sys.executable})."
    in_venv = sys.prefix != sys.base_prefix or "CONDA_PREFIX" in os.environ
    repo = Path(__file__).resolve().parent.parent
    venv = repo / ".venv"
    if not in_venv and venv.is_dir():
        return (f"{what} No virtual environment is active, and the course's is {venv}. Fix: "
                f"activate it (in the course folder `source .venv/bin/activate`, on Windows "
                f"`.venv\\Scripts\\activate`), then run `python -m aecourse doctor` again.")
    if not in_venv:
        return (f"{what} No virtual environment is active. Fix: in the course folder, create and "
                "fill one as the README's 'Get started' says (python3 -m venv .venv, activate it, "
                "install PyTorch, then pip install -e . jupyterlab).")
    return (f"{what} The active environment ({sys.prefix}) lacks the course's packages. Fix: in "
            "the course folder, run `pip install -e .` (on a Linux machine without an NVIDIA GPU, "
            "install PyTorch's CPU build first, as the README's 'Get started' says).")


def _print(rows, problems) -> None:
    width = max(len(name) for name, _ in rows)
    print("aecourse doctor")
    for name, value in rows:
        print(textwrap.fill(f"{name:<{width}}  {value}", WIDTH, initial_indent="  ",
                            subsequent_indent=" " * (width + 4), break_long_words=False,
                            break_on_hyphens=False))
    if problems:
        print("\nTo fix:")
        for p in problems:
            print(textwrap.fill(p, WIDTH, initial_indent="  - ", subsequent_indent="    ",
                                break_long_words=False, break_on_hyphens=False))
    else:
        print("\nAll essentials present.")
    sys.stdout.flush()
