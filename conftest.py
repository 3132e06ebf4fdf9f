"""Test defaults for every test and notebook: the smoke budget, no progress bars, headless plots.

At the repository root so that it also applies when pytest is given only notebooks."""

import os

# Set before any notebook kernel starts, so nbval's kernels inherit them.
os.environ.setdefault("AECOURSE_MODE", "smoke")
os.environ.setdefault("AECOURSE_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")
