"""Command line: `python -m aecourse doctor` checks the environment."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Run the `aecourse` command line; return its exit status."""
    parser = argparse.ArgumentParser(prog="python -m aecourse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="report Python, torch, device, mode, data and widgets; "
                                  "exit 1 if something essential is missing")
    args = parser.parse_args(argv)
    if args.command == "doctor":
        from .doctor import run

        return run()
    return 2


if __name__ == "__main__":
    sys.exit(main())
