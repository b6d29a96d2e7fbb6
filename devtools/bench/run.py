"""``csscore bench``: throughput, latency, memory and scaling of the scorer.

Every phase runs on one broker (``KAFKA_BOOTSTRAP_SERVERS`` when it answers, otherwise an
embedded Apache Kafka broker in a temporary directory, stopped at the end) with fresh
topics and app ids, so phases never see each other's state:

(a) raw: ``getmany`` + ``orjson.loads`` of a 4-partition topic of single-event records;
(b) the scorer end to end (``csscore worker`` subprocess) on that topic and on records of
    100 events of one org; events/s over the span from the first to the last score record
    (broker timestamps), and also from the worker's start (startup included);
(c) latency at 50 % of the single-event rate: events carry their produce wall time as
    their event time, so a live record's ``as_of`` names the newest event it reflects and
    latency = record timestamp - ``as_of``;
(d) peak RSS (``VmHWM``) and RocksDB size at two org counts, and the time a fresh worker
    with a wiped data dir needs to recover the larger state from the changelogs;
(e) two workers vs one on the pre-filled single-event topic;
and the peers of ``devtools/bench/peers/`` (Quix Streams counter, naive Faust) on the same
single-event topic, as subprocesses that report their own rate.

Numbers are printed, never judged here: the machine decides them. Progress goes to stderr.
Event payloads are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from devtools.kafka_local import LocalBroker, broker_answers
from devtools.procs import WorkerProcess
from scoring.timeutil import DAY_MS, format_time_ms, parse_time_ms
from streams.config import MAX_REQUEST_BYTES
from streams.runtime.topics import create_topic

PARTITIONS = 4
MAX_RESTARTS = 3  # worker restarts per run before the bench gives up
BATCH_EVENTS = 100  # events of one org per batched record
PEERS_DIR = Path(__file__).resolve().parent / "peers"

# A realistic mix of the high-volume event types (spec 7), weighted by how often the
# generator of streams/generate.py emits them; each entry: (type, source, data JSON).
_EVENT_MIX: tuple[tuple[str, str, bytes], ...] = (
    ("case.created", "service/app", b'{"product":"service_cloud","count":1}'),
    ("case.created", "service/app", b'{"product":"service_cloud","count":2}'),
    ("order.placed", "commerce/storefront", b'{"product":"commerce_cloud","count":3}'),
    ("order.placed", "commerce/storefront", b'{"product":"commerce_cloud"}'),
    ("work_order.created", "field-service/app", b'{"product":"field_service","count":1}'),
    ("feature.used", "service/app", b'{"product":"service_cloud","feature":"swarming"}'),
    ("error.occurred", "platform/logs", b'{"source":"apex","count":2}'),
    ("performance.sampled", "platform/rum", b'{"metric":"ept","value":2150.5,"count":4}'),
    ("license.activated", "identity/users", b'{"product":"sales_cloud","count":2}'),
    ("credits.consumed", "data-cloud/meter", b'{"product":"data_cloud","credits":812.25}'),
    ("learning.completed", "trailhead", b'{"kind":"badge"}'),
    ("alert.triggered", "platform/monitoring", b'{"severity":"warning","metric":"ept"}'),
)


@dataclass(frozen=True)
class BenchSizes:
    """How big each phase is; ``quick`` shrinks everything for the smoke test."""

    orgs: int
    events: int
    latency_seconds: float
    memory_orgs: tuple[int, int]
    memory_events_per_org: int
    faust_naive_events: int
    quiet_seconds: float
    default_interval_latency: bool  # also measure p99 at the default 1 s live interval
    scorer_timeout_s: float = 900.0  # one scorer run that takes longer fails the bench

    @classmethod
    def choose(cls, orgs: int, events: int | None, quick: bool) -> BenchSizes:
        if quick:
            return cls(
                orgs=min(orgs, 50),
                events=events or 1_000,
                latency_seconds=3.0,
                memory_orgs=(50, 200),
                memory_events_per_org=2,
                faust_naive_events=1_000,
                quiet_seconds=1.0,
                default_interval_latency=False,
                scorer_timeout_s=120.0,
            )
        # Sized by the scorer's measured speed: at 10,000 orgs nearly every event of a
        # single-event topic yields its own live record (an org is revisited less often
        # than the 1 s live interval), about 650 events per worker CPU second, and the
        # 100,000-org phase emits 100,000 records. 40,000 events took 20 minutes on a
        # shared, loaded 2-core machine (README, "Performance"); 20,000 take about 15.
        default_events = 20_000
        return cls(
            orgs=orgs,
            events=events or default_events,
            latency_seconds=20.0,
            memory_orgs=(10_000, 100_000),
            memory_events_per_org=2,
            faust_naive_events=min(events or default_events, 20_000),
            quiet_seconds=2.0,
            default_interval_latency=True,
        )


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def unique(prefix: str) -> str:
    return f"bench-{prefix}-{uuid.uuid4().hex[:10]}"


# --------------------------------------------------------------------------- events


def org_id(index: int) -> str:
    return f"bench-org-{index:06d}"


def event_line(seq: int, org: str, time_ms: int, run: str) -> bytes:
    """One valid CloudEvent (the decoder's rules): a type of the mix chosen by ``seq``."""
    event_type, source, data = _EVENT_MIX[seq % len(_EVENT_MIX)]
    return (
        b'{"specversion":"1.0","id":"%s-%d","source":"%s","type":"%s",'
        b'"subject":"%s","time":"%s","data":%s}'
        % (
            run.encode(),
            seq,
            source.encode(),
            event_type.encode(),
            org.encode(),
            format_time_ms(time_ms).encode(),
            data,
        )
    )


def synthetic_events(
    orgs: int, count: int, end_ms: int, span_ms: int = 20 * DAY_MS
) -> Iterator[tuple[bytes, bytes]]:
    """``count`` (key, line) pairs spread evenly over ``orgs`` orgs (round robin), event
    times rising over ``span_ms`` up to ``end_ms``."""
    run = uuid.uuid4().hex[:8]  # ids differ between runs, so no phase sees a duplicate
    start_ms = end_ms - span_ms
    names = [org_id(i) for i in range(orgs)]
    for seq in range(count):
        org = names[seq % orgs]
        yield org.encode(), event_line(seq, org, start_ms + seq * span_ms // max(count, 1), run)


def batched_records(
    orgs: int, count: int, end_ms: int, per_record: int
) -> Iterator[tuple[bytes, bytes, int]]:
    """(key, array record, events): ``per_record`` consecutive events of one org each."""
    run = uuid.uuid4().hex[:8]
    per_org = max(count // orgs, 1)
    span_ms = 20 * DAY_MS
    seq = 0
    for index in range(orgs):
        org = org_id(index)
        for first in range(0, per_org, per_record):
            size = min(per_record, per_org - first)
            lines = []
            for step in range(size):
                time_ms = end_ms - span_ms + (first + step) * span_ms // per_org
                lines.append(event_line(seq, org, time_ms, run))
                seq += 1
            yield org.encode(), b"[" + b",".join(lines) + b"]", size


# --------------------------------------------------------------------------- Kafka helpers


async def produce(
    bootstrap: str, topic: str, records: Iterable[tuple[bytes, bytes, int]]
) -> tuple[int, int]:
    """Publish (key, value, events) records as fast as acknowledgements allow."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=20,
        max_batch_size=512 * 1024,
        max_request_size=MAX_REQUEST_BYTES,
    )
    await producer.start()
    sent = events = 0
    pending: list[asyncio.Future[Any]] = []
    try:
        for key, value, carried in records:
            pending.append(await producer.send(topic, value=value, key=key))
            sent += 1
            events += carried
            if len(pending) >= 5_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent, events


class KafkaProbe:
    """One consumer (no group) and one admin client for offsets and timestamps."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)

    async def __aenter__(self) -> KafkaProbe:
        await self.consumer.start()
        await self.admin.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def end_offsets(self, topic: str) -> dict[TopicPartition, int]:
        await self.consumer._client.force_metadata_update()
        partitions = self.consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return {}
        ends: dict[TopicPartition, int] = await self.consumer.end_offsets(tps)
        return ends

    async def committed(self, group: str) -> dict[TopicPartition, int]:
        try:
            offsets = await self.admin.list_consumer_group_offsets(group)
        except KafkaError:  # no coordinator yet (a fresh broker, a group not yet joined)
            return {}
        return {tp: meta.offset for tp, meta in offsets.items()}

    async def group_caught_up(self, group: str, topics: Sequence[str]) -> bool:
        committed = await self.committed(group)
        for topic in topics:
            ends = await self.end_offsets(topic)
            if not ends:
                return False
            if any(committed.get(tp, -1) < end for tp, end in ends.items() if end > 0):
                return False
        return True

    async def first_last_timestamps(self, topic: str) -> tuple[int, int, int] | None:
        """(first, last, records) over all partitions: broker timestamps in ms."""
        ends = await self.end_offsets(topic)
        nonempty = [tp for tp, end in ends.items() if end > 0]
        if not nonempty:
            return None
        firsts: list[int] = []
        lasts: list[int] = []
        starts: dict[TopicPartition, int] = await self.consumer.beginning_offsets(nonempty)
        for tp in nonempty:
            for offset in (starts[tp], ends[tp] - 1):
                self.consumer.assign([tp])
                self.consumer.seek(tp, offset)
                batch = await self.consumer.getmany(tp, timeout_ms=10_000, max_records=1)
                for record in batch.get(tp, []):
                    (firsts if offset == starts[tp] else lasts).append(record.timestamp)
        total = sum(ends[tp] - starts[tp] for tp in nonempty)
        return min(firsts), max(lasts), total


# --------------------------------------------------------------------------- processes


async def wait_scorer_done(
    probe: KafkaProbe,
    workers: Sequence[WorkerProcess],
    *,
    quiet_seconds: float,
    timeout: float = 900.0,
) -> None:
    """Until both consumer groups of the scorer committed everything and the output end
    offsets stayed still for ``quiet_seconds`` (the last deferred live record is out)."""
    worker = workers[0]
    deadline = time.monotonic() + timeout
    last_output: dict[TopicPartition, int] | None = None
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        for each in workers:
            if not each.alive():
                # Like a supervisor (the worker exits non-zero on an agent failure so
                # that the unapplied records are re-read): restart it, a few times.
                if each.starts > MAX_RESTARTS:
                    raise RuntimeError(f"worker exited early; log tail:\n{each.log_tail()}")
                progress(f"    worker {each.app_id} exited; restarting it (as a supervisor)")
                each.start()
        output = await probe.end_offsets(worker.output_topic)
        if output != last_output:
            last_output = output
            still_since = time.monotonic()
        done = await probe.group_caught_up(f"{worker.app_id}-ingest", [worker.input_topic])
        done = done and await probe.group_caught_up(worker.app_id, [f"{worker.app_id}-events"])
        if done and time.monotonic() - still_since >= quiet_seconds:
            return
        await asyncio.sleep(0.25)
    raise RuntimeError(
        f"scorer {worker.app_id} not caught up within {timeout:.0f} s; log tail:\n"
        + "\n".join(each.log_tail() for each in workers)
    )


def dir_size_mb(path: Path) -> float:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(root) / name).stat().st_size
    return total / (1024 * 1024)


# --------------------------------------------------------------------------- the bench


@dataclass
class ScorerRun:
    """What one end-to-end scorer run measured."""

    events: int
    seconds_first_to_last: float
    seconds_from_start: float
    output_records: int
    peak_rss_mb: float | None
    state_mb: float

    @property
    def events_per_s(self) -> float:
        return self.events / max(self.seconds_first_to_last, 1e-3)

    @property
    def events_per_s_from_start(self) -> float:
        return self.events / max(self.seconds_from_start, 1e-3)


class Bench:
    """Runs the phases in order and collects the results (``results``)."""

    def __init__(self, bootstrap: str, sizes: BenchSizes, workdir: Path) -> None:
        self.bootstrap = bootstrap
        self.sizes = sizes
        self.workdir = workdir
        self.results: dict[str, Any] = {
            "orgs": sizes.orgs,
            "events": sizes.events,
            "partitions": PARTITIONS,
            "cpus": os.cpu_count(),
        }
        self.now_ms = int(time.time() * 1000)
        self.single_topic = ""

    def worker(self, app_id: str, input_topic: str, output_topic: str, **env: str) -> WorkerProcess:
        data_dir = self.workdir / f"data-{app_id}"
        return WorkerProcess(
            self.bootstrap,
            app_id,
            input_topic,
            output_topic,
            f"{output_topic}.dlq",
            data_dir,
            self.workdir / f"{app_id}.log",
            extra_env=dict(env),
        )

    async def run_scorer(
        self, input_topic: str, events: int, label: str, workers: int = 1, **env: str
    ) -> ScorerRun:
        app_id = unique(label)
        output = f"{app_id}-scores"
        procs = [self.worker(app_id, input_topic, output, **env) for _ in range(workers)]
        for index, proc in enumerate(procs[1:], start=1):
            proc.data_dir = proc.data_dir.with_name(f"{proc.data_dir.name}-{index}")
            proc.log_path = proc.log_path.with_name(f"{app_id}-{index}.log")
        for proc in procs:
            proc.start()
        try:
            async with KafkaProbe(self.bootstrap) as probe:
                await wait_scorer_done(
                    probe,
                    procs,
                    quiet_seconds=self.sizes.quiet_seconds,
                    timeout=self.sizes.scorer_timeout_s,
                )
                stamps = await probe.first_last_timestamps(output)
            rss = [proc.peak_rss_mb() for proc in procs]
            cpu = [proc.cpu_seconds() or 0.0 for proc in procs]
        finally:
            for proc in procs:
                proc.stop()
        if stamps is None:
            raise RuntimeError(f"{label}: the scorer wrote no score record")
        first, last, records = stamps
        started = min(proc.started_wall for proc in procs)
        self.results[f"{label}_worker_restarts"] = sum(proc.starts - 1 for proc in procs)
        if sum(cpu) > 0:
            # Includes the worker's start-up CPU (a few seconds): a lower bound.
            self.results[f"{label}_events_per_worker_cpu_s"] = round(events / sum(cpu))
        known_rss = [value for value in rss if value is not None]
        return ScorerRun(
            events=events,
            seconds_first_to_last=(last - first) / 1000,
            seconds_from_start=last / 1000 - started,
            output_records=records,
            peak_rss_mb=max(known_rss) if known_rss else None,
            state_mb=sum(dir_size_mb(proc.data_dir) for proc in procs),
        )

    # --- (a) raw ------------------------------------------------------------------------

    async def phase_raw(self) -> None:
        sizes = self.sizes
        self.single_topic = unique("single")
        await create_topic(self.bootstrap, self.single_topic, PARTITIONS)
        progress(f"filling {self.single_topic}: {sizes.events} single-event records")
        started = time.perf_counter()
        records = ((k, v, 1) for k, v in synthetic_events(sizes.orgs, sizes.events, self.now_ms))
        await produce(self.bootstrap, self.single_topic, records)
        fill_s = time.perf_counter() - started
        self.results["produce_single_records_per_s"] = round(sizes.events / fill_s)
        rate = await raw_consume_rate(self.bootstrap, self.single_topic, sizes.events)
        self.results["raw_events_per_s"] = round(rate)
        progress(f"(a) raw getmany + orjson.loads: {rate:,.0f} events/s")

    # --- (b) scorer throughput ----------------------------------------------------------

    async def phase_throughput(self) -> None:
        sizes = self.sizes
        progress("(b) scorer on single-event records")
        single = await self.run_scorer(self.single_topic, sizes.events, "single")
        self.single_run = single
        self.results["single_events_per_s"] = round(single.events_per_s)
        self.results["single_events_per_s_from_start"] = round(single.events_per_s_from_start)
        self.results["single_seconds_first_to_last_score"] = round(single.seconds_first_to_last, 2)
        self.results["single_output_records"] = single.output_records
        progress(f"    single: {single.events_per_s:,.0f} events/s")

        batched_orgs = max(1, min(sizes.orgs, sizes.events // BATCH_EVENTS))
        topic = unique("batched")
        await create_topic(self.bootstrap, topic, PARTITIONS)
        progress(f"filling {topic}: {sizes.events} events, {BATCH_EVENTS} per record")
        _, events = await produce(
            self.bootstrap,
            topic,
            batched_records(batched_orgs, sizes.events, self.now_ms, BATCH_EVENTS),
        )
        progress("(b) scorer on batched records")
        batched = await self.run_scorer(topic, events, "batched")
        self.results["batched_orgs"] = batched_orgs
        self.results["batched_events_per_s"] = round(batched.events_per_s)
        self.results["batched_events_per_s_from_start"] = round(batched.events_per_s_from_start)
        progress(f"    batched: {batched.events_per_s:,.0f} events/s over {batched_orgs} orgs")

    # --- (c) latency --------------------------------------------------------------------

    async def phase_latency(self) -> None:
        # 50 % of the sustained single-event rate. The backlog rate (first to last score
        # record) overstates what a live stream of small polls sustains, so the lower of it
        # and the rate from the worker's start is the basis.
        sustained = min(
            float(self.results["single_events_per_s"]),
            float(self.results.get("single_events_per_s_from_start") or 0.0)
            or float(self.results["single_events_per_s"]),
        )
        rate = max(50.0, 0.5 * sustained)
        self.results["latency_load_events_per_s"] = round(rate)
        runs = [("0", "")]
        if self.sizes.default_interval_latency:
            runs.append(("1", "_default_interval"))
        for interval, suffix in runs:
            progress(f"(c) latency at {rate:,.0f} events/s, live interval {interval} s")
            p50, p99, samples, achieved = await self.measure_latency(rate, interval)
            self.results[f"latency_p50_ms{suffix}"] = round(p50, 1)
            self.results[f"latency_p99_ms{suffix}"] = round(p99, 1)
            self.results[f"latency_samples{suffix}"] = samples
            self.results[f"latency_achieved_events_per_s{suffix}"] = round(achieved)
            progress(f"    p50 {p50:.0f} ms, p99 {p99:.0f} ms ({samples} live records)")

    async def measure_latency(self, rate: float, interval: str) -> tuple[float, float, int, float]:
        sizes = self.sizes
        app_id = unique("latency")
        topic, output = f"{app_id}-in", f"{app_id}-scores"
        await create_topic(self.bootstrap, topic, PARTITIONS)
        proc = self.worker(app_id, topic, output, CSS_LIVE_EMIT_INTERVAL_SECONDS=interval)
        proc.start()
        run = uuid.uuid4().hex[:8]
        names = [org_id(i) for i in range(sizes.orgs)]
        seen: dict[str, int] = {}  # org -> live records read
        latencies: list[float] = []
        load_started_ms: list[int] = []

        async def read_output(stop: asyncio.Event) -> None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                max_partition_fetch_bytes=MAX_REQUEST_BYTES,
            )
            await consumer.start()
            try:
                while not (await _topic_exists(consumer, output)):
                    await asyncio.sleep(0.2)
                parts = consumer.partitions_for_topic(output) or set()
                consumer.assign([TopicPartition(output, p) for p in parts])
                while not stop.is_set():
                    batches = await consumer.getmany(timeout_ms=200, max_records=5000)
                    for batch in batches.values():
                        for record in batch:
                            _note_live(record, seen, latencies, load_started_ms)
            finally:
                await consumer.stop()

        stop = asyncio.Event()
        reader = asyncio.create_task(read_output(stop))
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=1)
        await producer.start()
        achieved = 0.0
        try:
            # Warm up: one event for each of 64 orgs (all partitions, with high
            # probability), then wait for their live records: the worker is assigned
            # and running before the measured load starts.
            warm = names[: min(64, len(names))]
            for index, org in enumerate(warm):
                await producer.send(
                    topic, event_line(index, org, _now_ms(), run + "w"), key=org.encode()
                )
            await producer.flush()
            deadline = time.monotonic() + 120
            while not all(org in seen for org in warm):
                if not proc.alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"latency worker not ready; log tail:\n{proc.log_tail()}")
                await asyncio.sleep(0.1)
            load_started_ms.append(_now_ms() + 1)
            sent = 0
            started = time.monotonic()
            while (elapsed := time.monotonic() - started) < sizes.latency_seconds:
                due = int(rate * elapsed)
                while sent < due:
                    org = names[sent % len(names)]
                    # The event time is the produce wall time: as_of of the live record
                    # that reflects it tells when the event entered the pipeline.
                    line = event_line(sent, org, _now_ms(), run)
                    await producer.send(topic, line, key=org.encode())
                    sent += 1
                await asyncio.sleep(0.002)
            await producer.flush()
            achieved = sent / (time.monotonic() - started)
            await asyncio.sleep(float(interval) + 3.0)  # the last deferred records
        finally:
            stop.set()
            await producer.stop()
            with contextlib.suppress(Exception):
                await reader
            proc.stop()
        if not latencies:
            raise RuntimeError("no live record carried a measured event")
        latencies.sort()
        return (
            _percentile(latencies, 0.50),
            _percentile(latencies, 0.99),
            len(latencies),
            achieved,
        )

    # --- (d) memory and recovery ----------------------------------------------------------

    async def phase_memory(self) -> None:
        sizes = self.sizes
        small, large = sizes.memory_orgs
        for orgs, name in ((small, "10k"), (large, "100k")):
            topic = unique(f"mem{name}")
            await create_topic(self.bootstrap, topic, PARTITIONS)
            count = orgs * sizes.memory_events_per_org
            progress(f"(d) memory: {orgs} orgs, {sizes.memory_events_per_org} events each")
            _, events = await produce(
                self.bootstrap,
                topic,
                batched_records(orgs, count, self.now_ms, sizes.memory_events_per_org),
            )
            app_id = unique(f"mem{name}")
            run = await self.run_scorer_keep(topic, events, app_id)
            self.results[f"rss_mb_{name}_orgs"] = round(run.peak_rss_mb or 0.0, 1)
            self.results[f"state_mb_{name}_orgs"] = round(run.state_mb, 1)
            self.results[f"events_per_s_{name}_orgs"] = round(run.events_per_s)
            progress(f"    peak RSS {run.peak_rss_mb or 0:.0f} MiB, state {run.state_mb:.1f} MiB")
            if name == "100k":
                seconds = await self.measure_recovery(topic, app_id, orgs)
                self.results["recovery_seconds_100k_orgs"] = round(seconds, 2)
                progress(f"    recovery of {orgs} orgs: {seconds:.1f} s")
        self.results["memory_orgs"] = list(sizes.memory_orgs)

    async def run_scorer_keep(self, topic: str, events: int, app_id: str) -> ScorerRun:
        """Like ``run_scorer`` with a given app id (the recovery reuses it)."""
        output = f"{app_id}-scores"
        proc = self.worker(app_id, topic, output)
        proc.start()
        try:
            async with KafkaProbe(self.bootstrap) as probe:
                await wait_scorer_done(
                    probe,
                    [proc],
                    quiet_seconds=self.sizes.quiet_seconds,
                    timeout=self.sizes.scorer_timeout_s,
                )
                stamps = await probe.first_last_timestamps(output)
            rss = proc.peak_rss_mb()
        finally:
            proc.stop()
        if stamps is None:
            raise RuntimeError(f"{app_id}: no score record")
        first, last, records = stamps
        return ScorerRun(
            events,
            (last - first) / 1000,
            last / 1000 - proc.started_wall,
            records,
            rss,
            dir_size_mb(proc.data_dir),
        )

    async def measure_recovery(self, topic: str, app_id: str, orgs: int) -> float:
        """A fresh worker, data dir wiped, same app id: seconds from its start until it
        scores one new event in each of 16 orgs spread over the partitions (the agent
        processes them only once the tables are recovered from the changelogs)."""
        output = f"{app_id}-scores"
        proc = self.worker(app_id, topic, output)
        shutil.rmtree(proc.data_dir, ignore_errors=True)
        probes = [org_id(i * orgs // 16) for i in range(16)]
        run = uuid.uuid4().hex[:8]
        probe_ms = self.now_ms + 1  # newer than every stored event: a live record follows
        as_of = format_time_ms(probe_ms).encode()
        await produce(
            self.bootstrap,
            topic,
            ((o.encode(), event_line(i, o, probe_ms, run), 1) for i, o in enumerate(probes)),
        )
        async with KafkaProbe(self.bootstrap) as probe:
            start_offsets = await probe.end_offsets(output)
        proc.start()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            max_partition_fetch_bytes=MAX_REQUEST_BYTES,
        )
        await consumer.start()
        waiting = {o.encode() for o in probes}
        try:
            consumer.assign(list(start_offsets))
            for tp, offset in start_offsets.items():
                consumer.seek(tp, offset)
            deadline = time.monotonic() + 600
            while waiting:
                if not proc.alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"recovery worker failed; log tail:\n{proc.log_tail()}")
                batches = await consumer.getmany(timeout_ms=200, max_records=5000)
                for batch in batches.values():
                    for record in batch:
                        if record.key in waiting and record.value and as_of in record.value:
                            waiting.discard(record.key)
            return time.time() - proc.started_wall
        finally:
            await consumer.stop()
            proc.stop()

    # --- (e) scaling ----------------------------------------------------------------------

    async def phase_scaling(self) -> None:
        progress("(e) two workers on the single-event topic")
        two = await self.run_scorer(self.single_topic, self.sizes.events, "two", workers=2)
        one = self.single_run
        self.results["two_worker_events_per_s"] = round(two.events_per_s)
        self.results["two_worker_speedup"] = round(two.events_per_s / one.events_per_s, 2)
        self.results["two_worker_speedup_from_start"] = round(
            two.events_per_s_from_start / one.events_per_s_from_start, 2
        )
        progress(f"    two workers: {two.events_per_s:,.0f} events/s")

    # --- peers ----------------------------------------------------------------------------

    async def phase_peers(self) -> None:
        sizes = self.sizes
        for script, key, count in (
            ("quix_counter.py", "quix_events_per_s", sizes.events),
            ("faust_naive.py", "faust_naive_events_per_s", sizes.faust_naive_events),
        ):
            progress(f"peer {script}: {count} events")
            rate, note = await asyncio.to_thread(self.run_peer, script, count)
            self.results[key] = None if rate is None else round(rate)
            if note:
                self.results[f"{key.removesuffix('_events_per_s')}_note"] = note
            progress(f"    {script}: {rate if rate is None else f'{rate:,.0f}'} events/s {note}")

    def run_peer(self, script: str, count: int) -> tuple[float | None, str]:
        path = PEERS_DIR / script
        if not path.exists():
            return None, f"{path} not found"
        group = unique(path.stem)
        command = [
            sys.executable,
            str(path),
            "--bootstrap",
            self.bootstrap,
            "--topic",
            self.single_topic,
            "--group",
            group,
            "--count",
            str(count),
            "--state-dir",
            str(self.workdir / group),
        ]
        log_path = self.workdir / f"{group}.log"
        with log_path.open("wb") as log:
            try:
                done = subprocess.run(
                    command, stdout=subprocess.PIPE, stderr=log, timeout=600, cwd=self.workdir
                )
            except subprocess.TimeoutExpired:
                return None, "timed out after 600 s"
        for line in reversed(done.stdout.decode(errors="replace").splitlines()):
            with contextlib.suppress(ValueError):
                report = json.loads(line)
                if isinstance(report, dict) and "events_per_s" in report:
                    rate = report["events_per_s"]
                    return (float(rate) if rate else None), str(report.get("note", ""))
        tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return None, f"exit {done.returncode}: {tail[0][:200]}"


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _topic_exists(consumer: AIOKafkaConsumer, topic: str) -> bool:
    await consumer._client.force_metadata_update()
    return bool(consumer.partitions_for_topic(topic))


_AS_OF = b'"as_of":"'


def _note_live(
    record: Any, seen: dict[str, int], latencies: list[float], load_started: list[int]
) -> None:
    """Latency of one live record: its timestamp minus its ``as_of`` (the event time of
    the newest event it reflects, which is that event's produce wall time)."""
    value: bytes | None = record.value
    if not value or b'"kind":"live"' not in value:
        return
    org = record.key.decode() if record.key else ""
    seen[org] = seen.get(org, 0) + 1
    start = value.find(_AS_OF)
    if start < 0 or not load_started:
        return
    start += len(_AS_OF)
    as_of_ms = parse_time_ms(value[start : value.index(b'"', start)].decode())
    if as_of_ms >= load_started[0]:
        latencies.append(float(record.timestamp - as_of_ms))


def _percentile(ordered: Sequence[float], fraction: float) -> float:
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


async def raw_consume_rate(bootstrap: str, topic: str, expected: int) -> float:
    """events/s of ``getmany`` + ``orjson.loads`` of every value, from the first fetch."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    loads = orjson.loads
    count = 0
    try:
        started = time.perf_counter()
        while count < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=20_000)
            for batch in batches.values():
                for record in batch:
                    loads(record.value)
                count += len(batch)
        return count / (time.perf_counter() - started)
    finally:
        await consumer.stop()


# --------------------------------------------------------------------------- entry point


def reachable_bootstrap() -> str | None:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if configured and any(broker_answers(a.strip()) for a in configured.split(",")):
        return configured
    return None


TABLE_ROWS = (
    ("raw_events_per_s", "(a) raw getmany + orjson.loads", "events/s"),
    ("single_events_per_s", "(b) scorer, single-event records", "events/s"),
    ("single_events_per_s_from_start", "    same, from the worker's start", "events/s"),
    ("batched_events_per_s", "(b) scorer, 100-event records", "events/s"),
    ("batched_events_per_s_from_start", "    same, from the worker's start", "events/s"),
    ("latency_load_events_per_s", "(c) latency load (50 % of single)", "events/s"),
    ("latency_p50_ms", "(c) latency p50, live interval 0", "ms"),
    ("latency_p99_ms", "(c) latency p99, live interval 0", "ms"),
    ("latency_p99_ms_default_interval", "(c) latency p99, live interval 1 s", "ms"),
    ("rss_mb_10k_orgs", "(d) peak RSS, smaller org count", "MiB"),
    ("state_mb_10k_orgs", "(d) RocksDB size, smaller org count", "MiB"),
    ("rss_mb_100k_orgs", "(d) peak RSS, larger org count", "MiB"),
    ("state_mb_100k_orgs", "(d) RocksDB size, larger org count", "MiB"),
    ("events_per_s_100k_orgs", "(d) scorer at the larger org count", "events/s"),
    ("recovery_seconds_100k_orgs", "(d) recovery of the larger state", "s"),
    ("two_worker_events_per_s", "(e) two workers, single-event records", "events/s"),
    ("two_worker_speedup", "(e) two workers / one", "x"),
    ("quix_events_per_s", "peer: Quix Streams per-org counter", "events/s"),
    ("faust_naive_events_per_s", "peer: Faust, table update per event", "events/s"),
)


def format_table(results: dict[str, Any]) -> str:
    lines = [f"{'measure':<42} {'value':>14}  unit"]
    for key, label, unit in TABLE_ROWS:
        value = results.get(key)
        shown = "n/a" if value is None else f"{value:,}" if isinstance(value, int) else f"{value}"
        lines.append(f"{label:<42} {shown:>14}  {unit}")
    return "\n".join(lines)


async def run_phases(bootstrap: str, sizes: BenchSizes, workdir: Path) -> dict[str, Any]:
    bench = Bench(bootstrap, sizes, workdir)
    started = time.monotonic()
    await bench.phase_raw()
    await bench.phase_throughput()
    await bench.phase_peers()
    await bench.phase_scaling()
    await bench.phase_latency()
    await bench.phase_memory()
    bench.results["bench_seconds"] = round(time.monotonic() - started, 1)
    return bench.results


def run_bench(
    orgs: int,
    events: int | None,
    quick: bool,
    json_path: str | None,
    out: IO[str] | None = None,
) -> dict[str, Any]:
    """Run every phase; print the table (to ``out``) and write ``json_path``."""
    sizes = BenchSizes.choose(orgs, events, quick)
    with tempfile.TemporaryDirectory(prefix="csscore-bench-") as tmp:
        workdir = Path(tmp)
        bootstrap = reachable_bootstrap()
        broker: LocalBroker | None = None
        if bootstrap is None:
            progress("no reachable KAFKA_BOOTSTRAP_SERVERS: starting an embedded broker")
            broker = LocalBroker(workdir / "kafka")
            bootstrap = broker.start()
        progress(f"broker {bootstrap}; work dir {workdir}")
        try:
            results = asyncio.run(run_phases(bootstrap, sizes, workdir))
        finally:
            if broker is not None:
                broker.stop()
    results["broker"] = "embedded" if broker is not None else "KAFKA_BOOTSTRAP_SERVERS"
    print(format_table(results), file=out or sys.stdout)
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return results
