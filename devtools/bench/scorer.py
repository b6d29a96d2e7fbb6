"""Scorer runs of the bench: ``csscore worker`` subprocesses on one app id, watched from
outside (offsets, consumer groups, CPU time from ``/proc``) and measured afterwards by
reading back what they wrote.

A run's *window* starts when the worker is assigned and ends at its last write or
commit: the start is the first changelog record (the worker writes one when it applies
its first input record; ``ScorerSession.wait_assigned`` for runs that start on an empty
topic), the end the last poll at which an output, changelog or committed offset moved.
CPU seconds of the workers and of the broker JVM are sampled at both ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition

from devtools.bench.kafka_io import KafkaProbe, TopicScan, merge_scans, scan_topics
from devtools.bench.measure import (
    TOPIC_CLASSES,
    classify_topic,
    delta,
    machine_busy_seconds,
    per_event,
    process_cpu_seconds,
    sum_known,
)
from devtools.bench.sizes import MAX_RESTARTS, BenchSizes
from devtools.procs import WorkerProcess

POLL_SECONDS = 0.25


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def unique(prefix: str) -> str:
    return f"bench-{prefix}-{uuid.uuid4().hex[:10]}"


def dir_size_mb(path: Path) -> float:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(root) / name).stat().st_size
    return total / (1024 * 1024)


@dataclass(frozen=True)
class CpuSample:
    wall: float
    workers: tuple[float | None, ...]
    broker: float | None
    machine: float | None = None  # every process of the machine (/proc/stat)


@dataclass(frozen=True)
class Window:
    start: CpuSample
    end: CpuSample

    @property
    def seconds(self) -> float:
        return self.end.wall - self.start.wall

    @property
    def worker_cpu_s(self) -> float | None:
        pairs = zip(self.end.workers, self.start.workers, strict=True)
        return sum_known(delta(end, start) for end, start in pairs)

    @property
    def broker_cpu_s(self) -> float | None:
        return delta(self.end.broker, self.start.broker)

    @property
    def machine_cpu_s(self) -> float | None:
        return delta(self.end.machine, self.start.machine)

    def cores(self, cpu_s: float | None) -> float | None:
        """Average cores busy over the window."""
        if cpu_s is None or self.seconds <= 0:
            return None
        return cpu_s / self.seconds


@dataclass
class Measured:
    """One measured stretch of a scorer run: events fed, the window, produced records
    per topic class (end-offset deltas) and what was read back per class."""

    events: int
    window: Window
    records: dict[str, int]
    scans: dict[str, TopicScan]

    def bytes_of(self, topic_class: str) -> float | None:
        """Key + value bytes written to a class: the mean size of the records read back
        times the records produced (compaction may have removed a few before the read)."""
        scan = self.scans.get(topic_class)
        produced = self.records.get(topic_class, 0)
        if produced == 0:
            return 0.0
        if scan is None or scan.records == 0:
            return None
        return scan.size / scan.records * produced

    def figures(self, prefix: str) -> dict[str, Any]:
        events = self.events
        window = self.window
        machine, ours = window.machine_cpu_s, sum_known([window.worker_cpu_s, window.broker_cpu_s])
        others = None if machine is None or ours is None else max(0.0, machine - ours)
        out: dict[str, Any] = {
            f"{prefix}_window_seconds": round(self.window.seconds, 2),
            # Cores busy on the machine over the window, and in processes other than the
            # workers and the broker (the bench itself, other work on a shared machine).
            f"{prefix}_machine_busy_cores": _round(window.cores(window.machine_cpu_s), 2),
            f"{prefix}_other_busy_cores": _round(window.cores(others), 2),
            f"{prefix}_worker_cpu_seconds": _round(self.window.worker_cpu_s, 2),
            f"{prefix}_broker_cpu_seconds": _round(self.window.broker_cpu_s, 2),
            f"{prefix}_worker_cpu_us_per_event": _round(
                per_event(self.window.worker_cpu_s, events, 1e6), 1
            ),
            f"{prefix}_broker_cpu_us_per_event": _round(
                per_event(self.window.broker_cpu_s, events, 1e6), 1
            ),
            f"{prefix}_produced_records_per_event": _round(
                per_event(float(sum(self.records.values())), events), 3
            ),
        }
        for topic_class in TOPIC_CLASSES:
            out[f"{prefix}_{topic_class}_records_per_event"] = _round(
                per_event(float(self.records.get(topic_class, 0)), events), 3
            )
            out[f"{prefix}_{topic_class}_bytes_per_event"] = _round(
                per_event(self.bytes_of(topic_class), events), 1
            )
        output = self.scans.get("output")
        out[f"{prefix}_live_records_per_event"] = _round(
            per_event(float(output.live if output else 0), events), 3
        )
        return out


def combine(parts: Sequence[Measured]) -> Measured:
    """Several measured stretches as one: events, records, scans and CPU summed (the
    window's samples then hold sums, not readings)."""
    if not parts:
        raise ValueError("nothing to combine")

    def total(values: Iterable[float | None]) -> float | None:
        return sum_known(values)

    windows = [part.window for part in parts]
    workers = len(windows[0].start.workers)
    start = CpuSample(0.0, (0.0,) * workers, 0.0, 0.0)
    worker_sums = tuple(
        total(delta(w.end.workers[i], w.start.workers[i]) for w in windows) for i in range(workers)
    )
    end = CpuSample(
        sum(w.seconds for w in windows),
        worker_sums,
        total(w.broker_cpu_s for w in windows),
        total(w.machine_cpu_s for w in windows),
    )
    records = {c: sum(part.records.get(c, 0) for part in parts) for c in TOPIC_CLASSES}
    scans = {
        c: merge_scans(part.scans[c] for part in parts if c in part.scans) for c in TOPIC_CLASSES
    }
    return Measured(sum(part.events for part in parts), Window(start, end), records, scans)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


class BenchContext:
    """What every phase shares: the broker, the sizes, the work dir and the results."""

    def __init__(
        self, bootstrap: str, sizes: BenchSizes, workdir: Path, broker_pid: int | None
    ) -> None:
        self.bootstrap = bootstrap
        self.sizes = sizes
        self.workdir = workdir
        self.broker_pid = broker_pid
        self.results: dict[str, Any] = {}
        self.single_topic = ""
        self.single: SingleReference | None = None

    def worker(self, app_id: str, input_topic: str, index: int = 0, **env: str) -> WorkerProcess:
        suffix = "" if index == 0 else f"-{index}"
        output = f"{app_id}-scores"
        return WorkerProcess(
            self.bootstrap,
            app_id,
            input_topic,
            output,
            f"{output}.dlq",
            self.workdir / f"data-{app_id}{suffix}",
            self.workdir / f"{app_id}{suffix}.log",
            extra_env=dict(env),
        )

    def broker_cpu_seconds(self) -> float | None:
        return process_cpu_seconds(self.broker_pid)


@dataclass(frozen=True)
class SingleReference:
    """What the one-worker single-event run measured, for the two-worker comparison."""

    events: int
    events_per_s: float
    events_per_s_from_start: float
    window: Window
    # events / first -> last changelog record: what the two-worker rate is compared with
    # (two workers have no single applied span)
    changelog_events_per_s: float = 0.0


_METRICS_URL = re.compile(rb"metrics on (http://[0-9.]+:[0-9]+/metrics)")
_GAUGE = re.compile(rb"^css_(first|last)_applied_timestamp_seconds ([0-9.e+]+)$", re.M)


def applied_gauges(log_path: Path) -> tuple[float, float] | None:
    """The applied-time gauges of the worker whose log is ``log_path`` (its metrics URL is
    in the log), scraped now; None when absent or zero."""
    try:
        urls = _METRICS_URL.findall(log_path.read_bytes())
        if not urls:
            return None
        with urllib.request.urlopen(urls[-1].decode(), timeout=5) as response:
            text = response.read()
    except OSError:
        return None
    values = {name: float(value) for name, value in _GAUGE.findall(text)}
    first, last = values.get(b"first", 0.0), values.get(b"last", 0.0)
    return (first, last) if first > 0 and last >= first else None


@dataclass
class ScorerSession:
    """``workers`` worker processes of one fresh app id on ``input_topic``."""

    ctx: BenchContext
    label: str
    input_topic: str
    workers: int = 1
    env: dict[str, str] = field(default_factory=dict)
    app_id: str = ""
    procs: list[WorkerProcess] = field(default_factory=list)
    applied: tuple[float, float] | None = None  # (first, last) apply, once measured

    def __post_init__(self) -> None:
        self.app_id = self.app_id or unique(self.label)
        self.procs = [
            self.ctx.worker(self.app_id, self.input_topic, index, **self.env)
            for index in range(self.workers)
        ]

    @property
    def output_topic(self) -> str:
        return self.procs[0].output_topic

    @property
    def dlq_topic(self) -> str:
        return self.procs[0].dlq_topic

    @property
    def started_wall(self) -> float:
        return min(proc.started_wall for proc in self.procs)

    @property
    def restarts(self) -> int:
        return sum(proc.starts - 1 for proc in self.procs)

    def start(self) -> None:
        for proc in self.procs:
            proc.start()

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()

    def sample(self) -> CpuSample:
        return CpuSample(
            time.time(),
            tuple(proc.cpu_seconds() for proc in self.procs),
            self.ctx.broker_cpu_seconds(),
            machine_busy_seconds(),
        )

    def applied_span(self) -> tuple[float, float] | None:
        """(first, last) wall time at which the worker applied input events, from its own
        gauges (``css_first/last_applied_timestamp_seconds``); None for several workers, a
        restarted one, or a worker without those gauges."""
        if len(self.procs) != 1 or self.procs[0].starts != 1:
            return None
        return applied_gauges(self.procs[0].log_path)

    def peak_rss_mb(self) -> float | None:
        known = [value for value in (proc.peak_rss_mb() for proc in self.procs) if value]
        return max(known) if known else None

    def state_mb(self) -> float:
        return sum(dir_size_mb(proc.data_dir) for proc in self.procs)

    def _supervise(self) -> None:
        for each in self.procs:
            if not each.alive():
                # Like a supervisor (the worker exits non-zero on an agent failure so
                # that the unapplied records are re-read): restart it, a few times.
                if each.starts > MAX_RESTARTS:
                    raise RuntimeError(f"worker exited early; log tail:\n{each.log_tail()}")
                progress(f"    worker {each.app_id} exited; restarting it (as a supervisor)")
                each.start()

    async def app_topics(self, probe: KafkaProbe) -> dict[str, str]:
        """topic -> class, for every topic of this app that exists now."""
        names = await probe.topics_with_prefix(self.app_id)
        classes = {}
        for name in names:
            topic_class = classify_topic(name, self.app_id, self.output_topic, self.dlq_topic)
            if topic_class is not None:
                classes[name] = topic_class
        return classes

    async def offsets(self) -> dict[TopicPartition, int]:
        """End offsets of every topic of the app (the baseline of a measured stretch)."""
        async with KafkaProbe(self.ctx.bootstrap) as probe:
            return await probe.end_offsets_of(sorted(await self.app_topics(probe)))

    async def wait_assigned(self, timeout: float = 180.0) -> CpuSample:
        """Until both consumer groups are Stable with every worker a member (the input
        is empty: nothing to do yet); the CPU sample at that moment."""
        deadline = time.monotonic() + timeout
        async with KafkaProbe(self.ctx.bootstrap) as probe:
            while time.monotonic() < deadline:
                self._supervise()
                groups = (f"{self.app_id}-ingest", self.app_id)
                members = [await probe.stable_members(group) for group in groups]
                if all(count == self.workers for count in members):
                    return self.sample()
                await asyncio.sleep(POLL_SECONDS)
        raise RuntimeError(
            f"{self.app_id}: workers not assigned within {timeout:.0f} s; log tail:\n"
            + "\n".join(proc.log_tail() for proc in self.procs)
        )

    async def wait_done(self, start: CpuSample | None = None) -> Window:
        """Until both consumer groups committed everything and no output, changelog or
        committed offset moved for ``quiet_seconds`` (the last deferred live record is
        out). The window starts at ``start``, else at the first score or changelog record
        seen (state reaches the changelog only at the first flush, up to a commit
        interval after the first score)."""
        sizes = self.ctx.sizes
        deadline = time.monotonic() + sizes.scorer_timeout_s
        ingest, agent = f"{self.app_id}-ingest", self.app_id
        changelogs: list[str] = []
        listed_at = 0.0
        last_signature: object = None
        end = start
        still_since = time.monotonic()
        async with KafkaProbe(self.ctx.bootstrap) as probe:
            while time.monotonic() < deadline:
                self._supervise()
                if time.monotonic() - listed_at > (5.0 if changelogs else 1.0):
                    classes = await self.app_topics(probe)
                    changelogs = sorted(t for t, c in classes.items() if c == "changelog")
                    listed_at = time.monotonic()
                ends = await probe.end_offsets_of([self.output_topic, *changelogs])
                if start is None and any(end > 0 for end in ends.values()):
                    start = self.sample()
                committed = (await probe.committed(ingest), await probe.committed(agent))
                signature = (sorted(ends.items()), *(sorted(c.items()) for c in committed))
                if signature != last_signature:
                    last_signature = signature
                    still_since = time.monotonic()
                    end = self.sample()
                done = await probe.group_caught_up(ingest, [self.input_topic])
                done = done and await probe.group_caught_up(agent, [f"{self.app_id}-events"])
                if done and time.monotonic() - still_since >= sizes.quiet_seconds:
                    if start is None or end is None:
                        raise RuntimeError(f"{self.app_id}: the worker wrote nothing")
                    return Window(start, max(end, start, key=lambda s: s.wall))
                await asyncio.sleep(POLL_SECONDS)
        raise RuntimeError(
            f"scorer {self.app_id} not caught up within {sizes.scorer_timeout_s:.0f} s; "
            "log tail:\n" + "\n".join(proc.log_tail() for proc in self.procs)
        )

    async def measure(
        self, events: int, window: Window, baseline: dict[TopicPartition, int] | None = None
    ) -> Measured:
        """Produced records per topic class since ``baseline`` (end offsets; none: the
        app's topics are new) and what they hold, read back."""
        async with KafkaProbe(self.ctx.bootstrap) as probe:
            classes = await self.app_topics(probe)
            ends = await probe.end_offsets_of(sorted(classes))
        starts = baseline or {}
        records = dict.fromkeys(TOPIC_CLASSES, 0)
        for tp, end in ends.items():
            records[classes[tp.topic]] += end - starts.get(tp, 0)
        scans = await scan_topics(self.ctx.bootstrap, starts, ends)
        by_class = {
            topic_class: merge_scans(
                scan for topic, scan in scans.items() if classes[topic] == topic_class
            )
            for topic_class in TOPIC_CLASSES
        }
        return Measured(events, window, records, by_class)
