"""Command line: `doctor` checks the environment, `copy` makes a learner's own copies of lessons,
`generate-exercises` writes exercises/ and `links` the notebooks' Colab links (for maintainers)."""

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
    args = parser.parse_args(argv)
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
