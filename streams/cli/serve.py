"""``csscore serve``: the score pages and JSON API (``streams.view``).

Reads ``CSS_OUTPUT_TOPIC`` from ``KAFKA_BOOTSTRAP_SERVERS`` into a view stored under
``{CSS_DATA_DIR}/serve-{output topic}`` (RocksDB; ``CSS_STORE=memory`` keeps it in memory)
and serves it on ``CSS_UI_ADDR`` (default ``127.0.0.1:8080``). Logs the URL once at WARNING
(it is what a person needs); Ctrl-C or SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from streams.config import KafkaSecurity, settings_from_env

log = logging.getLogger("csscore.serve")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve score pages: a portfolio and a page per org, live",
        description=(
            "Follow the score topic (CSS_OUTPUT_TOPIC) into a local view and serve the"
            " portfolio (/), a page per org (/orgs/ID, refreshed live) and JSON"
            " (/api/orgs, /api/orgs/ID) on CSS_UI_ADDR (default 127.0.0.1:8080)."
        ),
    )
    parser.add_argument("--loglevel", default="INFO", type=str.upper,
                        choices=["DEBUG", "INFO", "WARNING"], help="default INFO")  # fmt: skip
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from streams.view.server import FollowState, running
    from streams.view.store import ScoreView

    settings = settings_from_env()
    security = KafkaSecurity.from_env()
    logging.basicConfig(
        level=args.loglevel, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("aiokafka").setLevel(logging.ERROR)  # reconnect noise while away
    directory = None
    if settings.store == "rocksdb":
        directory = settings.data_dir / f"serve-{settings.output_topic}"
    try:
        view = ScoreView(directory)
    except Exception as exc:  # rocksdict raises its own exception types
        print(f"csscore serve: cannot open {directory}: {exc}", file=sys.stderr)
        return 1
    state = FollowState(settings.output_topic, settings.output_retention_days)
    host, port = settings.ui_host_port

    async def serve() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            async with running(
                view, state, settings.bootstrap_servers, security, host, port
            ) as (_runner, bound):
                log.warning("score pages on http://%s:%d/", host, bound)
                await stop.wait()
        except OSError as exc:
            print(f"csscore serve: cannot listen on {host}:{port}: {exc.strerror}; set"
                  " CSS_UI_ADDR to a free address", file=sys.stderr)  # fmt: skip
            return 1
        return 0

    try:
        return asyncio.run(serve())
    finally:
        view.close()
