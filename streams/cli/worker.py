"""``csscore worker``, ``csscore tail`` and ``csscore score-of``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import orjson

from streams.config import KafkaSecurity, settings_from_env, settings_help
from streams.errors import UsageError


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    worker = subparsers.add_parser(
        "worker",
        help="run the streaming scorer",
        description="Run the streaming scorer until Ctrl-C or SIGTERM.",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    worker.add_argument(
        "-l",
        "--loglevel",
        default="INFO",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING"],
        help="log level (any case)",
    )
    worker.set_defaults(handler=_worker)

    tail = subparsers.add_parser(
        "tail",
        help="show score updates as a live table",
        description="Show the latest score record per org and kind as a live table (the"
        " alerts with --alerts), from the end of the topic or, with --from-beginning, all of"
        " it. Ctrl-C stops.",
    )
    tail.add_argument("--org", help="only this org id")
    tail.add_argument("--from-beginning", action="store_true", help="read the whole topic")
    tail.add_argument(
        "--topic",
        help="topic to read (default: CSS_OUTPUT_TOPIC or scores; with --alerts,"
        " CSS_ALERTS_TOPIC or scores.alerts)",
    )
    tail.add_argument(
        "--alerts", action="store_true", help="show the alerts topic (band changes, at risk)"
    )
    tail.add_argument(
        "--output",
        choices=["auto", "table", "lines", "json"],
        default="auto",
        help="a live table, one timestamped line per record, or JSON lines (auto: the table"
        " on a terminal, lines otherwise)",
    )
    tail.add_argument(
        "--until-end", action="store_true", help="exit at the end of the topic (as it was at start)"
    )
    tail.add_argument("--max-seconds", type=float, default=None, help=argparse.SUPPRESS)
    tail.set_defaults(handler=_tail)

    score_of = subparsers.add_parser(
        "score-of",
        help="print an org's current score records",
        description="Print an org's latest monthly record and latest live record as JSON"
        " lines, read backwards from the end of its partition of the score topic.",
    )
    score_of.add_argument("org", metavar="ORG")
    score_of.add_argument("--topic", help="output topic (default: CSS_OUTPUT_TOPIC or scores)")
    score_of.set_defaults(handler=_score_of)


def _worker(args: argparse.Namespace) -> int:
    from streams.runtime.worker import run_worker

    return run_worker(settings_from_env(), loglevel=args.loglevel)


def _tail(args: argparse.Namespace) -> int:
    from streams.cli.scores_view import tail_scores

    settings = settings_from_env()
    topic = args.topic or (settings.alerts_topic if args.alerts else settings.output_topic)
    security = KafkaSecurity.from_env()
    try:
        asyncio.run(
            tail_scores(
                settings.bootstrap_servers,
                topic,
                security,
                org=args.org,
                from_beginning=args.from_beginning,
                max_seconds=args.max_seconds,
                alerts=args.alerts,
                output=args.output,
                until_end=args.until_end,
            )
        )
    except KeyboardInterrupt:
        return 0
    return 0


def _score_of(args: argparse.Namespace) -> int:
    from streams.cli.scores_view import latest_records_of

    settings = settings_from_env()
    topic = args.topic or settings.output_topic
    records = asyncio.run(
        latest_records_of(settings.bootstrap_servers, topic, KafkaSecurity.from_env(), args.org)
    )
    if not records:
        raise UsageError(f"no score record for org {args.org!r} in topic {topic}")
    for record in records:
        sys.stdout.write(orjson.dumps(record).decode() + "\n")
    return 0
