"""``csscore``: the command line. Each command group lives in its own module and
registers its sub-commands here; a ``UsageError`` becomes one line on stderr, exit 2."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from streams.errors import UsageError

# Modules that define ``register(subparsers)``; each sub-parser sets ``handler`` to a
# callable taking the parsed namespace and returning the exit code.
COMMAND_MODULES = (
    "streams.cli.score",  # score
    "streams.cli.compare",  # compare-catalogs
    "streams.cli.feed",  # produce, tick
    "streams.cli.worker",  # worker, tail, score-of
    "streams.cli.serve",  # serve
)
# Developer tools, registered only where the ``devtools`` package is importable (a
# checkout); the worker image ships the runtime alone.
TOOL_MODULES = (
    "devtools.cli",  # kafka start|stop|status, generate
    "devtools.bench.cli",  # bench
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="csscore",
        description="Streaming Customer Success Score: scorer, tools and local Kafka.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    for module_name in TOOL_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not exc.name.startswith("devtools"):
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        exit_code: int = args.handler(args)
    except UsageError as exc:
        print(f"csscore: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return exit_code

