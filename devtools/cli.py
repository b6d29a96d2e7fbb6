"""``csscore kafka start|stop|status`` and ``csscore generate``.

``kafka`` runs a real local Apache Kafka broker, no Docker, or with ``--nodes 3`` a local
KRaft cluster of three combined controller+broker nodes (one data directory).
``start`` prints the bootstrap address (``127.0.0.1:PORT``, or every node's address
comma-separated) as the last line of stdout (so scripts can take ``| tail -n1``); with
``--sasl-scram-user`` it also prints ``sasl_bootstrap=127.0.0.1:P`` before it. The SCRAM
password comes only from the environment (``CSS_KAFKA_SASL_PASSWORD``), never from the
command line. ``status`` exits 0 only when the broker (every node) runs, 3 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import IO, Any

from devtools import kafka_local
from devtools.generate import TelemetryGenerator
from scoring.timeutil import InvalidTime, format_time_ms, parse_period, parse_time_ms
from streams.errors import UsageError

SASL_PASSWORD_ENV = "CSS_KAFKA_SASL_PASSWORD"


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="broker data directory (default: ${XDG_DATA_HOME:-~/.local/share}/csscore/kafka)",
    )


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 1-65535: {port}")
    return port


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``kafka`` with its ``start``, ``stop`` and ``status`` sub-commands, and
    ``generate``."""
    gen = subparsers.add_parser(
        "generate",
        help="write synthetic telemetry as JSON lines",
        description=(
            "Synthetic telemetry in arrival order, deterministic for (seed, now). Without "
            "--now, now = end of the generated range + 1 day; without --start the range "
            "ends with the month before now's month (or starts at 2025-01 when neither "
            "is given). Summary on stderr."
        ),
    )
    gen.add_argument("--orgs", type=int, default=10, help="number of orgs (default 10)")
    gen.add_argument("--months", type=int, default=18, help="months of history (default 18)")
    gen.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    gen.add_argument("--start", help="first month, YYYY-MM")
    gen.add_argument("--now", help="the consumer's clock, RFC 3339 (future poison is after it)")
    gen.add_argument("--bad-rate", type=float, default=0.0, help="share of poison lines")
    gen.add_argument("--dup-rate", type=float, default=0.0, help="share of repeated events")
    gen.add_argument("-o", "--output", help="output file (default stdout)")
    gen.set_defaults(handler=run_generate)

    kafka = subparsers.add_parser(
        "kafka",
        help="run a local Apache Kafka 3.9.1 broker (fetched from Maven Central once)",
        description="Run a real single-node Apache Kafka broker without Docker.",
    )
    actions = kafka.add_subparsers(dest="kafka_command", metavar="ACTION", required=True)

    start = actions.add_parser("start", help="start the broker and print its address")
    start.add_argument("--port", type=_port, default=None, help="listener port (default: free)")
    _add_data_dir(start)
    start.add_argument(
        "--foreground", action="store_true", help="stay attached until Ctrl-C stops the broker"
    )
    start.add_argument(
        "--nodes",
        type=int,
        default=None,
        help="start a local cluster of this many nodes (e.g. 3); a data dir keeps its count",
    )
    start.add_argument(
        "--node", type=int, default=None, metavar="N", help="start only node N of a cluster"
    )
    start.add_argument(
        "--sasl-scram-user",
        default=None,
        metavar="USER",
        help=f"also open a SASL_PLAINTEXT SCRAM-SHA-256 listener for USER (password from"
        f" ${SASL_PASSWORD_ENV})",
    )
    start.set_defaults(handler=run_start)

    stop = actions.add_parser("stop", help="stop the broker (SIGTERM, SIGKILL after a timeout)")
    _add_data_dir(stop)
    stop.add_argument(
        "--timeout", type=float, default=kafka_local.STOP_TIMEOUT_SECONDS, help="seconds"
    )
    stop.add_argument(
        "--node", type=int, default=None, metavar="N", help="stop only node N of a cluster"
    )
    stop.set_defaults(handler=run_stop)

    status = actions.add_parser(
        "status", help="say whether the broker (every node) runs and where; exit 3 if not"
    )
    _add_data_dir(status)
    status.set_defaults(handler=run_status)


STOPPED_EXIT = 3


def _cluster_of(args: argparse.Namespace, nodes: int | None = None) -> kafka_local.LocalCluster:
    cluster = kafka_local.LocalCluster(args.data_dir, nodes)
    if cluster.size < 2 and nodes is None:
        raise UsageError(f"{cluster.data_dir} holds no cluster: start one with --nodes 3")
    return cluster


def run_start(args: argparse.Namespace) -> int:
    clustered = (args.nodes is not None and args.nodes > 1) or args.node is not None
    if clustered or kafka_local.LocalCluster.is_cluster(args.data_dir):
        if args.sasl_scram_user is not None or args.port is not None or args.foreground:
            raise UsageError("--port, --foreground and --sasl-scram-user are for a single broker")
        cluster = _cluster_of(args, args.nodes)
        bootstrap = cluster.start(node=args.node)
        print(f"data_dir={cluster.data_dir}", flush=True)
        print(bootstrap, flush=True)  # last line of stdout: every node's address
        return 0
    password: str | None = None
    if args.sasl_scram_user is not None:
        password = os.environ.get(SASL_PASSWORD_ENV)
        if not password:
            raise UsageError(f"--sasl-scram-user needs the password in ${SASL_PASSWORD_ENV}")
    broker = kafka_local.LocalBroker(args.data_dir)

    def announce(bootstrap: str) -> None:
        sasl = broker.sasl_bootstrap
        if sasl is not None:
            print(f"sasl_bootstrap={sasl}", flush=True)
        print(f"data_dir={broker.data_dir}", flush=True)
        print(bootstrap, flush=True)  # last line of stdout: the bootstrap address

    broker.start(
        port=args.port,
        foreground=args.foreground,
        sasl_scram_user=args.sasl_scram_user,
        sasl_password=password,
        on_ready=announce,
    )
    return 0


def run_stop(args: argparse.Namespace) -> int:
    if args.node is not None or kafka_local.LocalCluster.is_cluster(args.data_dir):
        cluster = _cluster_of(args)
        stopped = cluster.stop(node=args.node, timeout=args.timeout)
        if stopped:
            print(f"stopped node(s) {', '.join(map(str, stopped))} of {cluster.data_dir}")
        else:
            print(f"no node running for {cluster.data_dir}")
        return 0
    broker = kafka_local.LocalBroker(args.data_dir)
    if broker.stop(timeout=args.timeout):
        print(f"stopped broker of {broker.data_dir}")
    else:
        print(f"no broker running for {broker.data_dir}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    if kafka_local.LocalCluster.is_cluster(args.data_dir):
        cluster = _cluster_of(args)
        states = cluster.status()
        for index, node in enumerate(states, start=1):
            where = f"pid={node.pid} {node.bootstrap}" if node.running else "stopped"
            print(f"node {index}: {where}")
        print(cluster.bootstrap)
        return 0 if all(node.running for node in states) else STOPPED_EXIT
    state = kafka_local.LocalBroker(args.data_dir).status()
    if state.running:
        print(f"running pid={state.pid} data_dir={state.data_dir}")
        if state.sasl_bootstrap is not None:
            print(f"sasl_bootstrap={state.sasl_bootstrap}")
        print(state.bootstrap)
        return 0
    print(f"stopped data_dir={state.data_dir}")
    return STOPPED_EXIT


# --- generate --------------------------------------------------------------------------------


def run_generate(args: argparse.Namespace) -> int:
    if args.orgs < 1 or args.months < 1:
        raise UsageError("--orgs and --months must be >= 1")
    for name in ("bad_rate", "dup_rate"):
        if not 0.0 <= getattr(args, name) < 1.0:
            raise UsageError(f"--{name.replace('_', '-')} must be in [0, 1)")
    try:
        if args.start is not None:
            parse_period(args.start)
        if args.now is not None:
            parse_time_ms(args.now)
    except InvalidTime as exc:
        raise UsageError(f"--start/--now: {exc}") from None
    generator = TelemetryGenerator(
        args.orgs, args.months, args.seed, args.start, args.now, args.bad_rate, args.dup_rate
    )
    # A file we open is closed below; stdout is not ours to close.
    out: IO[bytes] = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
    try:
        for line, _kind in generator.records():
            out.write(line)
            out.write(b"\n")
    finally:
        if args.output:
            out.close()
        else:
            out.flush()
    now = format_time_ms(generator.now_ms)
    print(f"now={now} {generator.summary.line()}", file=sys.stderr)
    if args.output:
        # The clock to follow is the data's: --tick-at-end closes the months it covers,
        # never the months up to today (a wall-clock tick would).
        print(
            f"next: csscore produce {args.output} --tick-at-end   # publish, close its months\n"
            f"      csscore score {args.output} --now {now}       # the same scores offline",
            file=sys.stderr,
        )
    return 0
