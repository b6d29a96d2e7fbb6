"""``csscore score FILE [FILE...]``: the offline scorer (docs/scoring-rules.md section 9).

stdout: JSON lines of score records (org ids ascending; per org its monthly records by
period, then its live record). ``--alerts PATH`` also writes the alert records the worker
would produce (per org: band changes by period, then live alerts in event order).
stderr: one line per rejection (``line N: REASON: detail``, never the payload), then
``watermark=...`` and ``accepted=A rejected=R duplicates=D``.
Exit 0 when the input could be read; 2 (one line) for a missing file or a bad catalog.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from decimal import Decimal, InvalidOperation
from typing import IO, Any

import orjson

from scoring.alerts import AlertRules
from scoring.fold import DEFAULT_DEDUP_HORIZON_MS
from scoring.timeutil import HOUR_MS, InvalidTime, format_time_ms, parse_time_ms
from streams.codec.catalog import load_catalog
from streams.errors import UsageError
from streams.pipeline.offline import OfflineScorer


def seconds_ms(text: str) -> int:
    """A duration in seconds (decimals allowed) as whole milliseconds."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError("must be a finite number >= 0")
    return int(value * 1000)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score JSON-lines event files offline",
        description="Score JSON lines of CloudEvents ('-' = stdin) and print score records.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="input file, or - for stdin")
    parser.add_argument("--catalog", metavar="PATH", help="catalog file (default: built-in)")
    add_scoring_options(parser)
    parser.add_argument(
        "--alerts",
        metavar="PATH",
        help="also write the alert records (css.alert/v1 JSON lines) to PATH",
    )
    parser.add_argument(
        "--alert-hold-seconds",
        type=seconds_ms,
        default=AlertRules().hold_ms,
        metavar="SECONDS",
        help="org event time below last month's band before at_risk (default 86400)",
    )
    parser.add_argument(
        "--alert-hysteresis-points",
        type=points,
        default=AlertRules().hysteresis_points,
        metavar="POINTS",
        help="points above the band's lower bound for recovered (default 3)",
    )
    parser.set_defaults(handler=run)


def points(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of points: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError("must be a finite number >= 0")
    return value


def add_scoring_options(parser: argparse.ArgumentParser) -> None:
    """--grace, --dedup-horizon and --now: the offline scorer's settings."""
    parser.add_argument(
        "--grace",
        type=seconds_ms,
        default=HOUR_MS,
        metavar="SECONDS",
        help="month-close grace period (default 3600)",
    )
    parser.add_argument(
        "--dedup-horizon",
        type=seconds_ms,
        default=DEFAULT_DEDUP_HORIZON_MS,
        metavar="SECONDS",
        help="duplicate horizon per org (default 86400)",
    )
    parser.add_argument(
        "--now",
        metavar="RFC3339",
        help="'now' for the future_timestamp check (default: the wall clock at start)",
    )


def now_ms_of(text: str | None) -> int:
    """--now as epoch ms (the wall clock when not given)."""
    if text is None:
        return time.time_ns() // 1_000_000
    try:
        return parse_time_ms(text)
    except InvalidTime as exc:
        raise UsageError(f"--now: {exc}") from exc


def open_inputs(paths: list[str]) -> list[tuple[str, IO[bytes]]]:
    opened: list[tuple[str, IO[bytes]]] = []
    for path in paths:
        if path == "-":
            opened.append((path, sys.stdin.buffer))
            continue
        try:
            opened.append((path, open(path, "rb")))  # noqa: SIM115  closed in run()
        except OSError as exc:
            for _, handle in opened:
                if handle is not sys.stdin.buffer:
                    handle.close()
            raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return opened


def open_output(path: str) -> IO[bytes]:
    try:
        return open(path, "wb")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc


def run(args: argparse.Namespace) -> int:
    now_ms = now_ms_of(args.now)
    catalog = load_catalog(args.catalog)
    rules = AlertRules(args.alert_hold_seconds, args.alert_hysteresis_points)
    alerts_out = open_output(args.alerts) if args.alerts else None
    inputs = open_inputs(args.files)
    scorer = OfflineScorer(
        catalog, args.grace, args.dedup_horizon, now_ms, rules if alerts_out else None
    )
    err = sys.stderr
    reported = 0
    try:
        for path, handle in inputs:
            scorer.line_number = 0  # line numbers count within each file
            suffix = f" (in {path})" if len(inputs) > 1 else ""
            for line in handle:
                scorer.feed(line)
                rejections = scorer.result.rejections
                while reported < len(rejections):
                    print(rejections[reported].describe() + suffix, file=err)
                    reported += 1
    except OSError as exc:
        raise UsageError(f"cannot read input: {exc.strerror or exc}") from exc
    finally:
        for _, handle in inputs:
            if handle is not sys.stdin.buffer:
                handle.close()
    result = scorer.finish()
    out = sys.stdout.buffer
    for record in result.records:
        out.write(orjson.dumps(record) + b"\n")
    out.flush()
    if alerts_out is not None:
        with alerts_out:
            for alert in result.alerts:
                alerts_out.write(orjson.dumps(alert) + b"\n")
    watermark = "none" if result.watermark_ms is None else format_time_ms(result.watermark_ms)
    print(f"watermark={watermark}", file=err)
    print(
        f"accepted={result.accepted} rejected={result.rejected} duplicates={result.duplicates}",
        file=err,
    )
    return 0
