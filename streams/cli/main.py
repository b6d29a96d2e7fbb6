"""``csscore``: the command line. Each command group lives in its own module and
registers its sub-commands here.

Expected failures are one line on stderr, never a traceback: a ``UsageError`` (bad
argument, setting or file) exits 2; another ``CssError``, an unreachable broker or a
file the system refuses exits 1; a closed pipe (``csscore score | head``) exits 0
quietly; Ctrl-C exits 130."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from importlib import metadata

from streams.errors import CssError, UsageError

# Modules that define ``register(subparsers)``; each sub-parser sets ``handler`` to a
# callable taking the parsed namespace and returning the exit code.
COMMAND_MODULES = (
    "streams.cli.score",  # score
    "streams.cli.compare",  # compare-catalogs
    "streams.cli.feed",  # produce, tick
    "streams.cli.worker",  # worker, tail, score-of
    "streams.cli.serve",  # serve
    "streams.cli.dead_letters_view",  # dead-letters
)
# Developer tools, registered only where the ``devtools`` package is importable (a
# checkout); the worker image ships the runtime alone.
TOOL_MODULES = (
    "devtools.cli",  # kafka start|stop|status, generate
    "devtools.bench.cli",  # bench
)


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help shows its default (unless it says it already, or there is none
    to show)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text.lower()
            or default is None
            or default is False
            or default == argparse.SUPPRESS
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"


class RawHelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """The same, with the description and epilog as written (the worker's settings)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="csscore",
        description="Streaming Customer Success Score: scorer, tools and local Kafka.",
    )
    parser.add_argument("--version", action="version", version=f"csscore {_version()}")
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
    for choice in subparsers._choices_actions:  # every command: a description, its defaults
        command = subparsers.choices[choice.dest]
        raw = command.formatter_class is argparse.RawDescriptionHelpFormatter
        command.formatter_class = RawHelpFormatter if raw else HelpFormatter
        if not command.description:
            command.description = (choice.help or "")[:1].upper() + (choice.help or "")[1:] + "."
    return parser


def _version() -> str:
    try:
        return metadata.version("csscore")
    except metadata.PackageNotFoundError:
        return "unknown (not installed: run `make venv`)"


def _kafka_problem(exc: BaseException) -> str | None:
    """One line for a Kafka client error, or None if ``exc`` is not one."""
    try:
        from aiokafka.errors import KafkaConnectionError, KafkaError
    except ImportError:
        return None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or "127.0.0.1:9092 (the default)"
    if isinstance(exc, KafkaConnectionError):
        return (
            f"cannot reach Kafka at {bootstrap}: set KAFKA_BOOTSTRAP_SERVERS to a running"
            " broker, or start one with `csscore kafka start` and export the address it prints"
        )
    if isinstance(exc, KafkaError):
        return f"Kafka error {type(exc).__name__}: {exc} (brokers: {bootstrap})"
    return None


# Commands that configure their own logging; the others keep Kafka clients' connection
# errors off the terminal (the command reports the failure in one line).
_LOGGING_COMMANDS = frozenset({"worker", "serve"})


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command not in _LOGGING_COMMANDS:
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        exit_code: int = args.handler(args)
    except UsageError as exc:
        print(f"csscore: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): not an error. Point stdout at /dev/null so the
        # interpreter's final flush does not complain.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except CssError as exc:
        print(f"csscore: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"csscore: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        problem = _kafka_problem(exc)
        if problem is None:
            raise
        print(f"csscore: error: {problem}", file=sys.stderr)
        return 1
    return exit_code

