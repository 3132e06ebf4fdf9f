"""Command line: `doctor` checks the environment, `copy` makes a learner's own copies of lessons,
`generate-exercises` writes exercises/ and `links` the notebooks' Colab links (for maintainers),
`grade` grades an nbgrader assignment, each submission sandboxed (for instructors)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Run the `aecourse` command line; return its exit status."""
    parser = argparse.ArgumentParser(prog="python -m aecourse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="report Python, torch, device, mode, data and widgets; "
                                  "exit 1 if something essential is missing")
    copy = sub.add_parser("copy", help="copy lessons, companions and exercises into my-work/ (which git "
                                       "ignores), to work there; existing copies are kept")
    copy.add_argument("lessons", nargs="*", metavar="NN",
                      help="lesson numbers, e.g. 03 08 (default: every lesson)")
    copy.add_argument("--dest", default=None, help="another folder for the copies (default: my-work/)")
    exercises = sub.add_parser("generate-exercises", help="write exercises/ from solutions/ with nbgrader's "
                                                          "preprocessors (needs nbgrader)")
    exercises.add_argument("--check", action="store_true",
                           help="change nothing; exit 1 if exercises/ differs from what solutions/ generates")
    links = sub.add_parser("links", help="rewrite the notebooks' Colab badges, install lines and link twins "
                                         "from aecourse.links.REPOSITORY (then regenerate the exercises)")
    links.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook is stale")
    grade = sub.add_parser("grade", help="autograde every submission of an nbgrader assignment, each on its "
                                         "own in a sandbox; report every student (needs nbgrader)")
    grade.add_argument("assignment")
    grade.add_argument("--course", default=".", help="the nbgrader course directory (default: here)")
    grade.add_argument("--student", action="append", help="grade only this student (repeatable)")
    grade.add_argument("--cell-timeout", type=int, default=60, help="seconds per cell (default 60)")
    grade.add_argument("--notebook-timeout", type=int, default=600, help="seconds per notebook (default 600)")
    grade.add_argument("--memory-mb", type=int, default=4096, help="kernel address space (default 4096)")
    grade.add_argument("--output-kb", type=int, default=64, help="output kept per cell (default 64)")
    grade.add_argument("--uid", type=int, default=65534,
                       help="the unprivileged user the kernels run as, as root (default 65534, nobody); "
                            "its processes are killed after each student, so give concurrent runs their own")
    grade.add_argument("--unsandboxed", action="store_true",
                       help="grade even without a sandbox (not root and no bubblewrap): student code runs "
                            "with your rights")
    args = parser.parse_args(argv)
    if args.command == "grade":
        from .grading import Limits, run

        limits = Limits(cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                        memory_mb=args.memory_mb, cell_output_kb=args.output_kb)
        return run(args.assignment, args.course, limits, args.student, args.unsandboxed, args.uid)
    if args.command == "doctor":
        from .doctor import run

        return run()
    if args.command == "copy":
        from pathlib import Path

        from .workspace import DEFAULT_DEST, run

        return run(args.lessons, Path(args.dest) if args.dest else DEFAULT_DEST)
    if args.command == "links":
        from .links import run

        return run(check=args.check)
    if args.command == "generate-exercises":
        from .exercises import run

        return run(check=args.check)
    return 2


if __name__ == "__main__":
    sys.exit(main())
