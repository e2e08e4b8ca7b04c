"""`conveyor`: one command for the data generator, the loader, benchmarks and the local stack.

Each subcommand lives in its own module with a `register(subparsers, words)` function (`words`: the command
line's positional words after the command) that adds
its parser and sets `func` (a callable taking the parsed args and returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# command -> the module that registers it; only the module of the command asked for is imported (a command
# then starts in about a second instead of three: the others pull in sklearn, FastAPI and the services).
SUBCOMMANDS = {
    "generate-data": "conveyor_tools.cli.generate",
    "load": "conveyor_tools.cli.load",
    "bench": "conveyor_tools.cli.bench",
    "stack": "conveyor_tools.cli.stack",
    "demo": "conveyor_tools.cli.demo",
    "demo-drift": "conveyor_tools.cli.demo",
    "status": "conveyor_tools.cli.status",
    "train": "conveyor_tools.cli.train",
    "check": "conveyor_tools.cli.check",
}


def _positionals(argv: list[str]) -> list[str]:
    return [a for a in argv if not a.startswith("-")]


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given the command line, with only its command registered (all of them for help)."""
    parser = argparse.ArgumentParser(prog="conveyor", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    words = _positionals(argv or [])
    asked = SUBCOMMANDS.get(words[0]) if words else None
    for name in dict.fromkeys([asked] if asked else SUBCOMMANDS.values()):
        importlib.import_module(name).register(sub, words[1:])
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # One line per HTTP request drowns what the command itself says.
    logging.getLogger("httpx").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
