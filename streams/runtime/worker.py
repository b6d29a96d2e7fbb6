"""``csscore worker``: validate settings, set up topics and metrics, run the Faust worker.

Ctrl-C / SIGTERM stop it cleanly (Faust commits the processed offsets); an unexpected
error in the agent exits non-zero with one log line (``streams.runtime.agent``), so a supervisor
restarts it and the uncommitted records are re-read. Before Faust starts, one connect
with the worker's credentials (``streams.runtime.health.preflight``) turns a rejected login into one
line and exit 1 (Faust would retry forever); while it runs, a watchdog exits it (code 69)
once the broker has been unreachable for ``CSS_BROKER_UNREACHABLE_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import faust

from streams.codec.catalog import load_catalog
from streams.config import KafkaSecurity, Settings
from streams.errors import CssError
from streams.runtime.agent import ScorerApp
from streams.runtime.health import UnreachableWatchdog, preflight
from streams.runtime.metrics import Metrics
from streams.runtime.topics import ensure_topics

log = logging.getLogger("csscore.worker")


def _stop_during_startup(signum: int, frame: object) -> None:
    raise SystemExit(0)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Faust and mode narrate every service start and stop at INFO (about 150 lines at start):
# below INFO for us, unless --loglevel DEBUG.
NOISY_LOGGERS = ("faust", "mode")


class _ExpectedOnAFreshBroker(logging.Filter):
    """aiokafka logs ERROR while a fresh broker creates its offsets topic (the group
    coordinator is not available yet, and the client retries): not an error to report."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "GroupCoordinatorNotAvailable" not in record.getMessage()


def configure_logging(loglevel: str) -> None:
    """One format for every line, ours and Faust's (Faust does not install its own)."""
    logging.basicConfig(level=loglevel, stream=sys.stderr, format=LOG_FORMAT, force=True)
    if loglevel != "DEBUG":
        for name in NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("aiokafka.consumer.group_coordinator", "aiokafka.conn"):
        logging.getLogger(name).addFilter(_ExpectedOnAFreshBroker())


def run_worker(settings: Settings, *, loglevel: str = "INFO") -> int:
    configure_logging(loglevel)
    # Until Faust installs its own handlers, SIGTERM means "stop before starting": exit 0.
    signal.signal(signal.SIGTERM, _stop_during_startup)
    catalog = load_catalog(settings.catalog_path)
    security = KafkaSecurity.from_env()
    try:
        asyncio.run(preflight(settings.bootstrap_servers, security))
        layout = asyncio.run(ensure_topics(settings, security))
    except CssError as exc:
        print(f"csscore worker: {exc}", file=sys.stderr)
        return 1
    metrics = Metrics()
    host, port = settings.metrics_host_port
    try:
        bound = metrics.serve(host, port)
    except OSError as exc:
        print(
            f"csscore worker: cannot serve metrics on {host}:{port}: {exc.strerror}; set"
            " CSS_METRICS_ADDR to a free address (port 0 picks one)",
            file=sys.stderr,
        )
        return 1
    # Always shown, whatever the level: where to look.
    log.warning("metrics on http://%s:%d/metrics", host, bound)
    log.info(
        "scoring %s (%d partitions) -> %s with catalog %s %s",
        settings.input_topic,
        layout.partitions,
        settings.output_topic,
        catalog.name,
        catalog.version,
    )
    (settings.data_dir / settings.app_id).mkdir(parents=True, exist_ok=True)
    asyncio.set_event_loop(asyncio.new_event_loop())
    scorer = ScorerApp(settings, catalog, metrics, security, layout=layout)
    # Inside Faust's loop: aiokafka retries a lost broker forever, which covers short
    # outages; the watchdog ends the process only after a long one.
    watchdog = UnreachableWatchdog(settings.bootstrap_servers, settings.broker_unreachable_seconds)
    scorer.app.timer(watchdog.interval_seconds, name="broker-watchdog")(watchdog.check)
    worker = faust.Worker(
        scorer.app,
        loglevel=loglevel,
        quiet=True,
        redirect_stdouts=False,
        override_logging=False,  # keep configure_logging's single format
    )
    # Faust's terminal spinner sets the root logger to DEBUG at --loglevel WARNING, so every
    # debug call of aiokafka and Faust would build a record (about 12 % of CPU).
    worker.spinner = None
    worker.execute_from_commandline()
    return 0
