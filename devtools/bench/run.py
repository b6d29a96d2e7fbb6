"""``csscore bench``: throughput, latency, memory and scaling of the scorer.

Every phase runs on one broker (``KAFKA_BOOTSTRAP_SERVERS`` when it answers, otherwise an
embedded Apache Kafka broker in a temporary directory, stopped at the end) with fresh
topics and app ids, so phases never see each other's state. Event times lie in one fixed
month (``devtools.bench.events``: no month closes by accident of the run date).

- raw (a): ``getmany`` + ``orjson.loads`` of a 4-partition topic of single-event records;
- single (b): the scorer end to end (``csscore worker`` subprocess) on that topic
  (200,000 events over 10,000 orgs by default). ``single_events_per_s`` = events / (first
  -> last apply), from the worker's own clock: its gauges
  ``css_first_applied_timestamp_seconds`` / ``css_last_applied_timestamp_seconds``
  (scraped at the end; a worker without them, e.g. an older commit: first -> last
  changelog record instead, ``single_rate_basis`` says which). ``single_tail_seconds`` =
  last apply -> last score record (the deferred live records);
  ``single_changelog_drain_seconds`` = last apply -> last changelog record (Faust's
  producer buffer sends state writes after the pass that made them);
  ``single_events_per_s_output_span`` = events / (first -> last score record);
  ``single_events_per_s_from_start`` = events / (worker start -> last
  score record). Per phase: worker and broker CPU per event (``/proc``, over the
  window from the worker's first changelog record to its last write or commit), records
  produced per event per topic class (end-offset deltas: output, changelogs, internal
  topics, dead letters), bytes per event per class (key + value of the records read
  back), live records per event (``batched_...``, ``two_worker_...`` and so on);
- batched (b): the same on records of 100 events of one org;
- peers: Quix Streams counter and naive Faust (``devtools/bench/peers/``) on the
  single-event topic;
- two-workers (e): two workers of one app id, assigned before their input arrives; CPU
  efficiency and wall-clock speed-up against the single run, next to the ceiling
  min(2, cores / (worker cores + broker cores of the single run)) (``phases``);
- latency (c): a live stream at 50 % of the single rate (or ``--rate``);
- memory (d): peak RSS and RocksDB size at two org counts, recovery of the larger state;
- month-close (f): 10,000 orgs, then a tick per partition closes the month, repeated on
  the following months until the closes lasted 10 s: ``month_close_records_per_s`` =
  monthly records / the sum of (first -> last monthly record) over the closes;
- heavy-org (g): the changelog bytes one event costs an org with a full dedup memory
  (20,000 ids over 24 h) and one with 100 ids, and the in-process encoding time.

Numbers are printed, never judged here: the machine decides them. Progress goes to stderr.
Event payloads are never logged.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import IO, Any

from devtools.bench.events import check_wall_clock
from devtools.bench.kafka_io import reachable_bootstrap
from devtools.bench.latency import phase_latency
from devtools.bench.measure import bootstrap_port, pid_listening_on
from devtools.bench.memory import phase_memory
from devtools.bench.peer_runs import phase_peers
from devtools.bench.phases import (
    phase_batched,
    phase_heavy_org,
    phase_month_close,
    phase_raw,
    phase_single,
    phase_two_workers,
)
from devtools.bench.report import format_table
from devtools.bench.scorer import BenchContext, progress
from devtools.bench.sizes import PARTITIONS, PHASES, BenchSizes
from devtools.kafka_local import LocalBroker


def _phase_runner(name: str, rate: float | None) -> Callable[[BenchContext], Awaitable[None]]:
    runners: dict[str, Callable[[BenchContext], Awaitable[None]]] = {
        "raw": phase_raw,
        "single": phase_single,
        "batched": phase_batched,
        "peers": phase_peers,
        "two-workers": phase_two_workers,
        "latency": lambda ctx: phase_latency(ctx, rate),
        "memory": phase_memory,
        "month-close": phase_month_close,
        "heavy-org": phase_heavy_org,
    }
    return runners[name]


async def run_phases(
    bootstrap: str,
    sizes: BenchSizes,
    workdir: Path,
    broker_pid: int | None,
    phases: Sequence[str] = PHASES,
    rate: float | None = None,
) -> dict[str, Any]:
    ctx = BenchContext(bootstrap, sizes, workdir, broker_pid)
    ctx.results.update(
        {
            "orgs": sizes.orgs,
            "events": sizes.events,
            "partitions": PARTITIONS,
            "cpus": os.cpu_count(),
            "phases": list(phases),
            "broker_pid_known": broker_pid is not None,
            # The machine may be shared: its load around the run, and per phase
            # ``*_other_busy_cores`` (CPU used by processes other than workers and broker).
            "load_average_1m_start": round(os.getloadavg()[0], 2),
        }
    )
    started = time.monotonic()
    for name in PHASES:
        if name in phases:
            phase_started = time.monotonic()
            await _phase_runner(name, rate)(ctx)
            seconds = round(time.monotonic() - phase_started, 1)
            ctx.results[f"phase_seconds_{name.replace('-', '_')}"] = seconds
            progress(f"phase {name}: {seconds} s")
    ctx.results["bench_seconds"] = round(time.monotonic() - started, 1)
    ctx.results["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    return ctx.results


def run_bench(
    orgs: int,
    events: int | None,
    quick: bool,
    json_path: str | None,
    out: IO[str] | None = None,
    phases: Sequence[str] | None = None,
    rate: float | None = None,
) -> dict[str, Any]:
    """Run the phases (all by default); print the table (to ``out``), write ``json_path``."""
    unknown = sorted(set(phases or ()) - set(PHASES))
    if unknown:
        raise ValueError(f"unknown phase(s) {', '.join(unknown)}; known: {', '.join(PHASES)}")
    check_wall_clock()
    sizes = BenchSizes.choose(orgs, events, quick)
    with tempfile.TemporaryDirectory(prefix="csscore-bench-") as tmp:
        workdir = Path(tmp)
        bootstrap = reachable_bootstrap()
        broker: LocalBroker | None = None
        if bootstrap is None:
            progress("no reachable KAFKA_BOOTSTRAP_SERVERS: starting an embedded broker")
            broker = LocalBroker(workdir / "kafka")
            bootstrap = broker.start()
            broker_pid = broker.running_pid()
        else:
            port = bootstrap_port(bootstrap)
            broker_pid = None if port is None else pid_listening_on(port)
        progress(f"broker {bootstrap} (pid {broker_pid}); work dir {workdir}")
        try:
            results = asyncio.run(
                run_phases(bootstrap, sizes, workdir, broker_pid, phases or PHASES, rate)
            )
        finally:
            if broker is not None:
                broker.stop()
    results["broker"] = "embedded" if broker is not None else "KAFKA_BOOTSTRAP_SERVERS"
    print(format_table(results), file=out or sys.stdout)
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return results
