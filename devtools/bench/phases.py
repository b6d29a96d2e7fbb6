"""The throughput phases of ``csscore bench``: raw consumer, the scorer on single-event
and batched records, two workers, a month close and a heavy org.

Rates of the scorer come from the worker's own clock: the broker CreateTime of its
changelog records, which its producer stamps when it applies an event.
"""

from __future__ import annotations

import math
import os
import time
import uuid

from devtools.bench.events import (
    BENCH_MONTH_START_MS,
    DAY_MS,
    HEAVY_DAY_START_MS,
    MONTH_CLOSE_START_MS,
    array_records,
    batched_records,
    heavy_org_lines,
    synthetic_events,
    tick_line,
)
from devtools.bench.heavy_org import encode_us, org_value_from_lines
from devtools.bench.kafka_io import produce, produce_to_partitions, raw_consume_rate
from devtools.bench.measure import speedup_ceiling
from devtools.bench.scorer import (
    BenchContext,
    Measured,
    ScorerSession,
    SingleReference,
    combine,
    progress,
    unique,
)
from devtools.bench.sizes import BATCH_EVENTS, PARTITIONS
from scoring.timeutil import format_period, month_of, month_start_ms
from streams.runtime.topics import create_topic

# The single-event phase's figures that are also the headline keys of the JSON.
HEADLINE = (
    "worker_cpu_us_per_event",
    "broker_cpu_us_per_event",
    "produced_records_per_event",
    "changelog_bytes_per_event",
    "output_bytes_per_event",
    "live_records_per_event",
)


def _seconds(first_ms: int | None, last_ms: int | None) -> float | None:
    if first_ms is None or last_ms is None:
        return None
    return (last_ms - first_ms) / 1000


def _rate(count: int, seconds: float | None) -> float | None:
    return None if seconds is None else count / max(seconds, 1e-3)


async def fill_single_topic(ctx: BenchContext) -> None:
    """The single-event topic: ``events`` records of one event each over ``orgs`` orgs."""
    if ctx.single_topic:
        return
    sizes = ctx.sizes
    topic = unique("single")
    await create_topic(ctx.bootstrap, topic, PARTITIONS)
    progress(f"filling {topic}: {sizes.events} single-event records")
    started = time.perf_counter()
    records = ((k, v, 1) for k, v in synthetic_events(sizes.orgs, sizes.events))
    await produce(ctx.bootstrap, topic, records)
    ctx.results["produce_single_records_per_s"] = round(
        sizes.events / (time.perf_counter() - started)
    )
    ctx.single_topic = topic


async def run_filled(
    ctx: BenchContext, label: str, topic: str, events: int
) -> tuple[Measured, ScorerSession]:
    """One worker on a filled topic until it is done; what it wrote, read back."""
    session = ScorerSession(ctx, label, topic)
    session.start()
    try:
        window = await session.wait_done()
        measured = await session.measure(events, window)
        ctx.results[f"{label}_peak_rss_mb"] = round(session.peak_rss_mb() or 0.0, 1)
        session.applied = session.applied_span()
    finally:
        session.stop()
    ctx.results[f"{label}_worker_restarts"] = session.restarts
    ctx.results.update(measured.figures(label))
    return measured, session


def record_rates(
    ctx: BenchContext, label: str, measured: Measured, session: ScorerSession
) -> tuple[float, float]:
    """``{label}_events_per_s``: events / (first -> last apply, from the worker's own
    gauges; a worker without them: first -> last changelog record), the tail after the
    last apply (deferred live records) and the changelog drain after it, the rate from
    the worker's start; returns (events/s, events/s from start)."""
    results = ctx.results
    events = measured.events
    changelog, output = measured.scans["changelog"], measured.scans["output"]
    span = _seconds(changelog.first_ts, changelog.last_ts)
    if span is None or output.last_ts is None or changelog.last_ts is None:
        raise RuntimeError(f"{label}: the scorer wrote no changelog or score record")
    applied = session.applied
    if applied is not None:
        first_applied, last_applied = applied
        rate = events / max(last_applied - first_applied, 1e-3)
        results[f"{label}_seconds_first_to_last_apply"] = round(last_applied - first_applied, 2)
        results[f"{label}_rate_basis"] = "worker applied-time gauges"
    else:
        last_applied = changelog.last_ts / 1000
        rate = events / max(span, 1e-3)
        results[f"{label}_rate_basis"] = "changelog timestamps (no applied gauges)"
    from_start = events / max(output.last_ts / 1000 - session.started_wall, 1e-3)
    results[f"{label}_events_per_s"] = round(rate)
    results[f"{label}_events_per_s_from_start"] = round(from_start)
    results[f"{label}_seconds_first_to_last_changelog"] = round(span, 2)
    results[f"{label}_tail_seconds"] = round(output.last_ts / 1000 - last_applied, 2)
    # Faust's producer buffer can hold state writes well after the pass that made them.
    results[f"{label}_changelog_drain_seconds"] = round(
        changelog.last_ts / 1000 - last_applied, 2
    )
    output_span = _seconds(output.first_ts, output.last_ts)
    results[f"{label}_seconds_first_to_last_score"] = round(output_span or 0.0, 2)
    output_rate = _rate(events, output_span)
    results[f"{label}_events_per_s_output_span"] = (
        None if output_rate is None else round(output_rate)
    )
    results[f"{label}_output_records"] = output.records
    cpu = measured.window.worker_cpu_s
    if cpu:
        results[f"{label}_events_per_worker_cpu_s"] = round(events / cpu)
    return rate, from_start


# --- raw ------------------------------------------------------------------------------------


async def phase_raw(ctx: BenchContext) -> None:
    await fill_single_topic(ctx)
    rate = await raw_consume_rate(ctx.bootstrap, ctx.single_topic, ctx.sizes.events)
    ctx.results["raw_events_per_s"] = round(rate)
    progress(f"(a) raw getmany + orjson.loads: {rate:,.0f} events/s")


# --- single and batched ---------------------------------------------------------------------


async def phase_single(ctx: BenchContext) -> None:
    await fill_single_topic(ctx)
    events = ctx.sizes.events
    progress(f"(b) scorer on {events} single-event records over {ctx.sizes.orgs} orgs")
    measured, session = await run_filled(ctx, "single", ctx.single_topic, events)
    rate, from_start = record_rates(ctx, "single", measured, session)
    for key in HEADLINE:
        ctx.results[key] = ctx.results[f"single_{key}"]
    changelog_span = ctx.results["single_seconds_first_to_last_changelog"]
    ctx.single = SingleReference(
        events, rate, from_start, measured.window, events / max(changelog_span, 1e-3)
    )
    progress(
        f"    single: {rate:,.0f} events/s ({ctx.results['single_rate_basis']}), tail "
        f"{ctx.results['single_tail_seconds']} s, worker "
        f"{ctx.results['worker_cpu_us_per_event']} us/event, broker "
        f"{ctx.results['broker_cpu_us_per_event']} us/event"
    )


async def single_reference(ctx: BenchContext) -> SingleReference:
    if ctx.single is None:
        await phase_single(ctx)
    assert ctx.single is not None
    return ctx.single


async def phase_batched(ctx: BenchContext) -> None:
    sizes = ctx.sizes
    orgs = max(1, min(sizes.orgs, sizes.events // BATCH_EVENTS))
    topic = unique("batched")
    await create_topic(ctx.bootstrap, topic, PARTITIONS)
    progress(f"filling {topic}: {sizes.events} events, {BATCH_EVENTS} per record")
    _, events = await produce(
        ctx.bootstrap, topic, batched_records(orgs, sizes.events, BATCH_EVENTS)
    )
    progress("(b) scorer on batched records")
    measured, session = await run_filled(ctx, "batched", topic, events)
    rate, _ = record_rates(ctx, "batched", measured, session)
    ctx.results["batched_orgs"] = orgs
    progress(f"    batched: {rate:,.0f} events/s over {orgs} orgs")


# --- two workers ----------------------------------------------------------------------------


async def phase_two_workers(ctx: BenchContext) -> None:
    """Two workers of one app id against the single-event run (one worker).

    Both start on an empty topic; once both consumer groups are Stable with two members
    (both workers assigned) their CPU is sampled and the input is filled. Input size:
    the single rate x the ceiling below x ``two_worker_seconds``, so the work lasts at
    least that long unless the speed-up beats the ceiling.

    - ``two_worker_cpu_efficiency`` = (events / worker CPU s, both workers, assignment to
      last commit) / (same for the single-event run): 1.0 = no CPU lost to the split;
    - ``two_worker_speedup`` = two-worker events/s / one-worker events/s (changelog spans);
    - ``two_worker_speedup_ceiling`` = min(2, cores / (w + b)), w and b the cores the
      single-event run kept busy in the worker and in the broker (CPU s / window s): the
      broker shares the cores and its work grows with the events.
    """
    sizes = ctx.sizes
    ref = await single_reference(ctx)
    cores = os.cpu_count() or 1
    window = ref.window
    ceiling = None
    if window.worker_cpu_s is not None and window.broker_cpu_s is not None:
        ceiling = speedup_ceiling(cores, window.worker_cpu_s, window.broker_cpu_s, window.seconds)
    events = sizes.events
    if sizes.two_worker_seconds > 0:
        planned = ref.events_per_s * (ceiling or 1.0) * sizes.two_worker_seconds
        events = max(events, math.ceil(planned))
    topic = unique("two-in")
    await create_topic(ctx.bootstrap, topic, PARTITIONS)
    session = ScorerSession(ctx, "two", topic, workers=2)
    progress(f"(e) two workers: waiting for both to be assigned, then {events} events")
    session.start()
    try:
        assigned = await session.wait_assigned()
        started = time.perf_counter()
        records = ((k, v, 1) for k, v in synthetic_events(sizes.orgs, events))
        await produce(ctx.bootstrap, topic, records)
        fill_s = time.perf_counter() - started
        done = await session.wait_done(start=assigned)
        measured = await session.measure(events, done)
    finally:
        session.stop()
    results = ctx.results
    results["two_worker_fill_seconds"] = round(fill_s, 2)
    results["two_worker_events"] = events
    results["two_worker_restarts"] = session.restarts
    results.update(measured.figures("two_worker"))
    changelog, output = measured.scans["changelog"], measured.scans["output"]
    span = _seconds(changelog.first_ts, changelog.last_ts)
    if span is None or changelog.last_ts is None or output.last_ts is None:
        raise RuntimeError("two workers: no changelog or score record")
    rate = events / max(span, 1e-3)
    from_start = events / max(output.last_ts / 1000 - session.started_wall, 1e-3)
    results["two_worker_events_per_s"] = round(rate)
    results["two_worker_seconds"] = round(changelog.last_ts / 1000 - assigned.wall, 2)
    # Both rates over first -> last changelog record (like for like).
    results["two_worker_speedup"] = round(rate / ref.changelog_events_per_s, 2)
    results["two_worker_speedup_from_start"] = round(from_start / ref.events_per_s_from_start, 2)
    results["two_worker_speedup_ceiling"] = None if ceiling is None else round(ceiling, 2)
    two_cpu, one_cpu = done.worker_cpu_s, window.worker_cpu_s
    if two_cpu and one_cpu:
        results["two_events_per_worker_cpu_s"] = round(events / two_cpu)
        efficiency = (events / two_cpu) / (ref.events / one_cpu)
        results["two_worker_cpu_efficiency"] = round(efficiency, 3)
    else:
        results["two_worker_cpu_efficiency"] = None
    if window.seconds > 0 and one_cpu is not None:
        results["single_worker_cores"] = round(one_cpu / window.seconds, 2)
        broker = window.broker_cpu_s
        results["single_broker_cores"] = (
            None if broker is None else round(broker / window.seconds, 2)
        )
    progress(
        f"    two workers: {rate:,.0f} events/s over {results['two_worker_seconds']} s, "
        f"speed-up {results['two_worker_speedup']}x (ceiling min(2, {cores} / (worker "
        f"{results.get('single_worker_cores')} + broker {results.get('single_broker_cores')}"
        f" cores)) = {results['two_worker_speedup_ceiling']}x), CPU efficiency "
        f"{results['two_worker_cpu_efficiency']}"
    )


# --- month close ----------------------------------------------------------------------------


async def phase_month_close(ctx: BenchContext) -> None:
    """``month_close_orgs`` orgs with events in a month, then one ``clock.tick`` per
    partition on the 2nd of the next month: every org gets its monthly record. Closing
    10,000 orgs takes a second or two, so the close is repeated on the following months
    (new events for every org, then the next tick) until the closes have lasted
    ``month_close_min_seconds`` together (at most ``month_close_max_months``; only months
    whose tick is not in the future). ``month_close_records_per_s`` = monthly records /
    the sum over the closes of (first -> last monthly record, broker timestamps);
    ``month_close_*_per_event`` figures are per monthly record, over the closes only."""
    sizes = ctx.sizes
    orgs, per_org = sizes.month_close_orgs, sizes.month_close_events_per_org
    topic = unique("close-in")
    await create_topic(ctx.bootstrap, topic, PARTITIONS)
    first_month = month_of(MONTH_CLOSE_START_MS)
    now_ms = int(time.time() * 1000)
    months = [
        first_month + k
        for k in range(sizes.month_close_max_months)
        if month_start_ms(first_month + k + 1) + DAY_MS <= now_ms
    ] or [first_month]
    session = ScorerSession(ctx, "close", topic)
    session.start()
    closes: list[Measured] = []
    spans: list[float] = []
    try:
        for month in months:
            progress(
                f"month close: {orgs} orgs, {per_org} events each in {format_period(month)}, "
                "then a tick per partition"
            )
            records = batched_records(orgs, orgs * per_org, per_org, month_start_ms(month))
            await produce(ctx.bootstrap, topic, records)
            await session.wait_done()
            baseline = await session.offsets()
            before = session.sample()
            tick_ms = month_start_ms(month + 1) + DAY_MS
            ticks = {p: tick_line(tick_ms, p) for p in range(PARTITIONS)}
            await produce_to_partitions(ctx.bootstrap, topic, ticks)
            window = await session.wait_done(start=before)
            measured = await session.measure(max(orgs, 1), window, baseline)
            closes.append(measured)
            output = measured.scans["output"]
            span = _seconds(output.monthly_first_ts, output.monthly_last_ts)
            spans.append(span or 0.0)
            progress(f"    {output.monthly} monthly records in {span} s")
            if sum(spans) >= sizes.month_close_min_seconds:
                break
    finally:
        session.stop()
    measured = combine(closes)
    monthly = measured.scans["output"].monthly
    results = ctx.results
    results["month_close_orgs"] = orgs
    results["month_close_months"] = len(closes)
    results["month_close_records"] = monthly
    results["month_close_worker_restarts"] = session.restarts
    total = sum(spans)
    rate = monthly / total if monthly > len(closes) and total > 0 else None
    results["month_close_records_per_s"] = None if rate is None else round(rate)
    results["month_close_seconds"] = round(total, 2)
    results.update(measured.figures("month_close"))
    shown = "n/a" if rate is None else f"{rate:,.0f}"
    progress(f"    {monthly} monthly records in {len(closes)} closes, {shown} records/s")


# --- heavy org ------------------------------------------------------------------------------


async def phase_heavy_org(ctx: BenchContext) -> None:
    """The changelog bytes one event costs an org holding many event ids (its dedup
    memory full: ``heavy_org_ids`` ids over 24 h) and the same org holding few.

    Two orgs with the same history size are loaded (records of 100 events): the heavy
    one has all ``heavy_org_ids`` events in the last 24 h (every id remembered), the
    other ``heavy_org_small_ids`` of them in that day and the rest on the 25 days before
    (ids past the 24 h dedup horizon are forgotten). Then one new event is sent to each in
    turn; ``heavy_org_flush_bytes[_100_ids]`` = key + value bytes of the changelog records
    the worker wrote from that event until it was idle again, read back. ``heavy_org_
    flush_us`` = median in-process time to encode the heavy org's value once
    (``devtools.bench.heavy_org``)."""
    sizes = ctx.sizes
    topic = unique("heavy-in")
    await create_topic(ctx.bootstrap, topic, PARTITIONS)
    run = uuid.uuid4().hex[:8]
    orgs = (
        ("bench-heavy-org-1", sizes.heavy_org_ids, "heavy_org_flush_bytes"),
        ("bench-heavy-org-2", sizes.heavy_org_small_ids, "heavy_org_flush_bytes_100_ids"),
    )
    older = sizes.heavy_org_ids - sizes.heavy_org_small_ids  # the small org's older events
    loads = {
        org: (
            heavy_org_lines(org, older, BENCH_MONTH_START_MS, 25 * DAY_MS, run + "o")
            if older > 0 and ids < sizes.heavy_org_ids
            else []
        )
        + heavy_org_lines(org, ids, HEAVY_DAY_START_MS, DAY_MS, run)
        for org, ids, _ in orgs
    }
    progress(f"heavy org: {sizes.heavy_org_ids} and {sizes.heavy_org_small_ids} event ids")
    for org, lines in loads.items():
        await produce(ctx.bootstrap, topic, array_records(org.encode(), lines, BATCH_EVENTS))
    session = ScorerSession(ctx, "heavy", topic)
    session.start()
    results = ctx.results
    try:
        await session.wait_done()
        for org, ids, key in orgs:
            baseline = await session.offsets()
            before = session.sample()
            # One more id, newer than every loaded one (an id prefix of its own).
            line = heavy_org_lines(org, ids + 1, HEAVY_DAY_START_MS, DAY_MS, run + "n")[-1]
            await produce(ctx.bootstrap, topic, [(org.encode(), line, 1)])
            window = await session.wait_done(start=before)
            measured = await session.measure(1, window, baseline)
            changelog = measured.scans["changelog"]
            results[key] = changelog.size
            results[f"{key.replace('bytes', 'records')}"] = measured.records["changelog"]
            progress(f"    {org} ({ids} ids): one event wrote {changelog.size:,} changelog bytes")
    finally:
        session.stop()
    heavy, ids, _ = orgs[0]
    heavy_lines = loads[heavy]
    records = [heavy_lines[i : i + BATCH_EVENTS] for i in range(0, ids, BATCH_EVENTS)]
    later = heavy_org_lines(heavy, 15, HEAVY_DAY_START_MS + DAY_MS, 15_000, run + "e")
    micros, size = encode_us(org_value_from_lines(heavy, records), later, len(records))
    results["heavy_org_flush_us"] = round(micros, 1)
    results["heavy_org_value_bytes"] = size
    progress(f"    encoding the heavy org's value: {micros:,.0f} us, {size:,} bytes")
