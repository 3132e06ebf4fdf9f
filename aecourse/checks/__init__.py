"""Instant feedback for the exercise notebooks: one check per graded task.

A check runs an answer on fixed and random inputs and compares it with the reference.
When it is wrong, the check raises CheckFailed, an AssertionError whose one message names
the mistake (wrong shape, wrong reduction, forgot the bias, changed its input, NaN,
radians, a tensor made on the CPU whatever the input's device, ...), which is how
nbgrader scores the cell (Jupyter shows it without the check's code, which holds the
answers); when it is right, it prints a short confirmation. `seed=` and size arguments
give other inputs (the hidden tests use them). Prediction tasks are graded by
`check_choice`-based checks that explain every choice. Checks need only torch (and the
course's data loader for the experiments): no nbgrader.

Each lessonNN module lists its checks in its own `__all__`; this package exports them all.
"""

from . import (
    lesson01,
    lesson02,
    lesson03,
    lesson04,
    lesson05,
    lesson06,
    lesson07,
    lesson08,
    lesson09,
)
from .core import CheckFailed, warnings_on_stdout
from .lesson01 import *  # noqa: F401,F403
from .lesson02 import *  # noqa: F401,F403
from .lesson03 import *  # noqa: F401,F403
from .lesson04 import *  # noqa: F401,F403
from .lesson05 import *  # noqa: F401,F403
from .lesson06 import *  # noqa: F401,F403
from .lesson07 import *  # noqa: F401,F403
from .lesson08 import *  # noqa: F401,F403
from .lesson09 import *  # noqa: F401,F403

_LESSONS = (lesson01, lesson02, lesson03, lesson04, lesson05, lesson06, lesson07, lesson08, lesson09)
__all__ = ["CheckFailed"] + [name for module in _LESSONS for name in module.__all__]

for _name in __all__:  # no warning from a check reaches stderr, where nbgrader would take the point
    if _name.startswith("check_"):
        globals()[_name] = warnings_on_stdout(globals()[_name])
