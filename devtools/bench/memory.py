"""(d) Peak RSS and RocksDB size at two org counts, and recovery of the larger state."""

from __future__ import annotations

import shutil
import time
import uuid

from aiokafka import AIOKafkaConsumer

from devtools.bench.events import (
    BENCH_MONTH_START_MS,
    BENCH_SPAN_MS,
    batched_records,
    event_line,
    org_id,
)
from devtools.bench.kafka_io import KafkaProbe, produce
from devtools.bench.scorer import BenchContext, ScorerSession, progress, unique
from devtools.bench.sizes import PARTITIONS
from scoring.timeutil import format_time_ms
from streams.config import MAX_REQUEST_BYTES
from streams.runtime.topics import create_topic


async def phase_memory(ctx: BenchContext) -> None:
    sizes = ctx.sizes
    small, large = sizes.memory_orgs
    for orgs, name in ((small, "10k"), (large, "100k")):
        topic = unique(f"mem{name}")
        await create_topic(ctx.bootstrap, topic, PARTITIONS)
        per_org = sizes.memory_events_per_org
        progress(f"(d) memory: {orgs} orgs, {per_org} events each")
        _, events = await produce(
            ctx.bootstrap, topic, batched_records(orgs, orgs * per_org, per_org)
        )
        session = ScorerSession(ctx, f"mem{name}", topic)
        session.start()
        try:
            window = await session.wait_done()
            measured = await session.measure(events, window)
            rss = session.peak_rss_mb()
        finally:
            session.stop()
        changelog = measured.scans["changelog"]
        span = None
        if changelog.first_ts is not None and changelog.last_ts is not None:
            span = (changelog.last_ts - changelog.first_ts) / 1000
        state = session.state_mb()
        ctx.results[f"rss_mb_{name}_orgs"] = round(rss or 0.0, 1)
        ctx.results[f"state_mb_{name}_orgs"] = round(state, 1)
        ctx.results[f"events_per_s_{name}_orgs"] = (
            None if span is None else round(events / max(span, 1e-3))
        )
        progress(f"    peak RSS {rss or 0:.0f} MiB, state {state:.1f} MiB")
        if name == "100k":
            seconds = await measure_recovery(ctx, topic, session.app_id, orgs)
            ctx.results["recovery_seconds_100k_orgs"] = round(seconds, 2)
            progress(f"    recovery of {orgs} orgs: {seconds:.1f} s")
    ctx.results["memory_orgs"] = list(sizes.memory_orgs)


async def measure_recovery(ctx: BenchContext, topic: str, app_id: str, orgs: int) -> float:
    """A fresh worker, data dir wiped, same app id: seconds from its start until it
    scores one new event in each of 16 orgs spread over the partitions (the agent
    processes them only once the tables are recovered from the changelogs)."""
    session = ScorerSession(ctx, "recovery", topic, app_id=app_id)
    proc = session.procs[0]
    shutil.rmtree(proc.data_dir, ignore_errors=True)
    probes = [org_id(i * orgs // 16) for i in range(16)]
    run = uuid.uuid4().hex[:8]
    # Newer than every stored event (still in the bench month): a live record follows.
    probe_ms = BENCH_MONTH_START_MS + BENCH_SPAN_MS + 60_000
    as_of = format_time_ms(probe_ms).encode()
    await produce(
        ctx.bootstrap,
        topic,
        ((o.encode(), event_line(i, o, probe_ms, run), 1) for i, o in enumerate(probes)),
    )
    output = session.output_topic
    async with KafkaProbe(ctx.bootstrap) as probe:
        start_offsets = await probe.end_offsets(output)
    proc.start()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=ctx.bootstrap,
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
