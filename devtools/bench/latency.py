"""(c) Latency of a live stream: events produced at a fixed rate to a warmed-up worker.

Each event's time is its produce wall time shifted by a constant into the bench month
(``ShiftedClock``: no month closes during the run, whatever the date), so a live record's
``as_of`` (the time of the newest event it reflects) maps back to that event's produce
wall time: latency = the live record's broker timestamp (stamped by the worker's
producer) - (``as_of`` + shift).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from devtools.bench.events import ShiftedClock, event_line, org_id
from devtools.bench.kafka_io import LIVE_MARK, topic_exists
from devtools.bench.measure import percentile
from devtools.bench.scorer import BenchContext, ScorerSession, Window, progress, unique
from devtools.bench.sizes import PARTITIONS
from scoring.timeutil import parse_time_ms
from streams.config import MAX_REQUEST_BYTES
from streams.runtime.topics import create_topic

_AS_OF = b'"as_of":"'


def latency_of(record_ts: int, value: bytes, clock_shift_ms: int) -> int | None:
    """Latency in ms of one live record: its timestamp - the produce wall time of the
    newest event it reflects (``as_of`` + shift); ``None`` for other records."""
    if LIVE_MARK not in value:
        return None
    start = value.find(_AS_OF)
    if start < 0:
        return None
    start += len(_AS_OF)
    as_of_ms = parse_time_ms(value[start : value.index(b'"', start)].decode())
    return record_ts - (as_of_ms + clock_shift_ms)


async def phase_latency(ctx: BenchContext, fixed_rate: float | None) -> None:
    """At ``fixed_rate`` events/s, else 50 % of the sustained single-event rate (the
    lower of the changelog-span rate and the rate from the worker's start)."""
    if fixed_rate is not None:
        rate = fixed_rate
    else:
        from devtools.bench.phases import single_reference

        ref = await single_reference(ctx)
        rate = max(50.0, 0.5 * min(ref.events_per_s, ref.events_per_s_from_start))
    ctx.results["latency_load_events_per_s"] = round(rate)
    runs = [("0", "")]
    if ctx.sizes.default_interval_latency:
        runs.append(("1", "_default_interval"))
    for interval, suffix in runs:
        progress(f"(c) latency at {rate:,.0f} events/s, live interval {interval} s")
        p50, p99, samples, achieved = await measure_latency(ctx, rate, interval, suffix)
        ctx.results[f"latency_p50_ms{suffix}"] = round(p50, 1)
        ctx.results[f"latency_p99_ms{suffix}"] = round(p99, 1)
        ctx.results[f"latency_samples{suffix}"] = samples
        ctx.results[f"latency_achieved_events_per_s{suffix}"] = round(achieved)
        progress(f"    p50 {p50:.0f} ms, p99 {p99:.0f} ms ({samples} live records)")


async def measure_latency(
    ctx: BenchContext, rate: float, interval: str, suffix: str
) -> tuple[float, float, int, float]:
    sizes = ctx.sizes
    app_id = unique("latency")
    topic = f"{app_id}-in"
    env = {"CSS_LIVE_EMIT_INTERVAL_SECONDS": interval}
    session = ScorerSession(ctx, "latency", topic, env=env, app_id=app_id)
    output = session.output_topic
    await create_topic(ctx.bootstrap, topic, PARTITIONS)
    clock = ShiftedClock()
    session.start()
    run = uuid.uuid4().hex[:8]
    names = [org_id(i) for i in range(sizes.orgs)]
    seen: set[str] = set()  # orgs with a live record read
    latencies: list[float] = []
    load_started: list[int] = []  # event time of the first measured event

    def note(record: Any) -> None:
        value: bytes | None = record.value
        if not value:
            return
        measured = latency_of(record.timestamp, value, clock.shift_ms)
        if measured is None:
            return
        seen.add(record.key.decode() if record.key else "")
        if load_started and record.timestamp - measured >= clock.wall_ms(load_started[0]):
            latencies.append(float(measured))

    async def read_output(stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=ctx.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            max_partition_fetch_bytes=MAX_REQUEST_BYTES,
        )
        await consumer.start()
        try:
            while not (await topic_exists(consumer, output)):
                await asyncio.sleep(0.2)
            parts = consumer.partitions_for_topic(output) or set()
            consumer.assign([TopicPartition(output, p) for p in parts])
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=5000)
                for batch in batches.values():
                    for record in batch:
                        note(record)
        finally:
            await consumer.stop()

    stop = asyncio.Event()
    reader = asyncio.create_task(read_output(stop))
    producer = AIOKafkaProducer(bootstrap_servers=ctx.bootstrap, linger_ms=1)
    await producer.start()
    achieved = 0.0
    sent = 0
    try:
        # Warm up: one event for each of 64 orgs (all partitions, with high probability),
        # then wait for their live records: the worker is assigned and running before
        # the measured load starts.
        warm = names[: min(64, len(names))]
        for index, org in enumerate(warm):
            line = event_line(index, org, clock.event_ms(), run + "w")
            await producer.send(topic, line, key=org.encode())
        await producer.flush()
        deadline = time.monotonic() + 120
        while not all(org in seen for org in warm):
            if not session.procs[0].alive() or time.monotonic() > deadline:
                raise RuntimeError(
                    f"latency worker not ready; log tail:\n{session.procs[0].log_tail()}"
                )
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # the warm-up's deferred writes
        baseline = await session.offsets()
        before = session.sample()
        load_started.append(clock.event_ms() + 1)
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < sizes.latency_seconds:
            due = int(rate * elapsed)
            while sent < due:
                org = names[sent % len(names)]
                line = event_line(sent, org, clock.event_ms(), run)
                await producer.send(topic, line, key=org.encode())
                sent += 1
            await asyncio.sleep(0.002)
        await producer.flush()
        achieved = sent / (time.monotonic() - started)
        await asyncio.sleep(float(interval) + 3.0)  # the last deferred records
        after = session.sample()
        measured = await session.measure(sent, Window(before, after), baseline)
        ctx.results.update(measured.figures(f"latency{suffix}"))
    finally:
        stop.set()
        await producer.stop()
        with contextlib.suppress(Exception):
            await reader
        session.stop()
    if not latencies:
        raise RuntimeError("no live record carried a measured event")
    latencies.sort()
    return percentile(latencies, 0.50), percentile(latencies, 0.99), len(latencies), achieved
