"""Test defaults: the smoke budget, no progress bars, a headless plotting backend."""

import os

# Set before any notebook kernel starts, so nbval's kernels inherit them.
os.environ.setdefault("AECOURSE_MODE", "smoke")
os.environ.setdefault("AECOURSE_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")
