"""``csscore bench``: the end-to-end performance benchmark (``devtools.bench.run``)."""

from __future__ import annotations

import argparse
from typing import Any

from devtools.bench.sizes import PHASES
from streams.errors import UsageError


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    bench = subparsers.add_parser(
        "bench",
        help="measure throughput, latency, memory and scaling against a real broker",
        description=(
            "Raw consumer baseline, the scorer end to end (single-event and 100-event "
            "records) with CPU, records and bytes per event, latency at 50 %% load, memory "
            "and recovery, one vs two workers, a month close, a heavy org, and the Quix "
            "Streams / naive Faust peers. Uses KAFKA_BOOTSTRAP_SERVERS when it answers, "
            "else an embedded broker in a temporary directory."
        ),
    )
    bench.add_argument("--orgs", type=int, default=10_000, help="orgs the events spread over")
    bench.add_argument("--events", type=int, default=None, help="events per throughput phase")
    bench.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    bench.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    bench.add_argument(
        "--phase",
        action="append",
        choices=PHASES,
        metavar="NAME",
        help=f"run only this phase (repeatable): {', '.join(PHASES)}; phases that need the "
        "single-event run or topic make it themselves",
    )
    bench.add_argument(
        "--rate",
        type=float,
        default=None,
        help="latency phase: a fixed rate in events/s instead of 50 %% of the single rate",
    )
    bench.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.orgs < 1 or (args.events is not None and args.events < 1):
        raise UsageError("--orgs and --events must be >= 1")
    if args.rate is not None and args.rate <= 0:
        raise UsageError("--rate must be > 0")
    # Imported here: the other commands should not pay for aiokafka at start.
    from devtools.bench.run import run_bench

    run_bench(args.orgs, args.events, args.quick, args.json, phases=args.phase, rate=args.rate)
    return 0
