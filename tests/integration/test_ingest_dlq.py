"""Poison goes to the dead-letter topic, nothing valid is lost (real broker).

A generated mix with 5 % poison and 10 % duplicates is published with ``csscore
produce``'s code path, then the worker's ingest stage (``Ingestor``: decode, dead-letter,
write the internal topic) reads it. The stateful parts (``too_old``, duplicates) belong to
the scoring agent, so here ``too_old`` poison and repeats count as decodable events.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from devtools.generate import POISON_PREFIX, TelemetryGenerator
from scoring.timeutil import parse_time_ms
from streams.cli.feed import plan_records, produce_records
from streams.cli.main import main
from streams.codec.decoding import TOO_LARGE_KEEP_BYTES, decode_record
from streams.codec.dlq import MAX_DETAIL_CHARS
from streams.codec.internal import decode_internal
from streams.config import KafkaSecurity, Settings
from streams.runtime.ingest import Ingestor
from streams.runtime.metrics import Metrics
from tests.kafka_helpers import consume_all, create_topic, end_offsets
from tests.worker_harness import committed_offsets

TICK_TIME = "2030-01-01T00:00:00Z"  # later than every generated event

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


async def ingest(
    bootstrap: str, topic: str, dlq_topic: str, partitions: int, now_ms: int
) -> tuple[int, int]:
    """Run the worker's ingest stage over ``topic`` until its group has committed the end
    offsets; (input records, valid events written to the internal topic)."""
    settings = replace(
        Settings(),
        bootstrap_servers=bootstrap,
        app_id=f"{topic}-app",
        input_topic=topic,
        dlq_topic=dlq_topic,
    )
    await create_topic(bootstrap, settings.events_topic, partitions=partitions)
    metrics = Metrics()
    ingestor = Ingestor(
        settings, KafkaSecurity(), metrics, partitions=partitions, wall_clock=lambda: now_ms / 1000
    )
    targets = await end_offsets(bootstrap, topic)
    task = asyncio.create_task(ingestor.run())
    try:
        deadline = time.monotonic() + 120
        while True:
            assert not task.done(), "the ingest stage stopped"
            committed = await committed_offsets(bootstrap, settings.ingest_group, [topic])
            if all(committed.get(TopicPartition(topic, p), 0) >= end for p, end in targets.items()):
                break
            assert time.monotonic() < deadline, "ingestion did not reach the end offsets"
            await asyncio.sleep(0.5)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    internal = await consume_all(bootstrap, settings.events_topic, timeout=120)
    events = sum(
        len(record.events)
        for message in internal
        for record in decode_internal(message.value or b"").records  # type: ignore[union-attr]
    )
    records = metrics.registry.get_sample_value("css_input_records_total")
    return int(records or 0), events


async def test_dlq_holds_exactly_the_poison(
    kafka_bootstrap: str, unique_topic: Callable[[str], str]
) -> None:
    topic, dlq_topic = unique_topic("telemetry"), unique_topic("telemetry.dlq")
    await create_topic(kafka_bootstrap, topic, partitions=3)
    await create_topic(kafka_bootstrap, dlq_topic, partitions=1)

    generator = TelemetryGenerator(5, 4, seed=42, bad_rate=0.05, dup_rate=0.1)
    lines = list(generator.records())
    kind_of_value = {line: kind for line, kind in lines}
    poison_kinds = Counter(kind for _, kind in lines if kind.startswith(POISON_PREFIX))
    assert poison_kinds[POISON_PREFIX + "too_large"] >= 1
    assert sum(kind.startswith(POISON_PREFIX) for _, kind in lines) / len(lines) > 0.03

    security = KafkaSecurity.from_env({})
    produced_records, produced_events = await produce_records(
        plan_records((line for line, _ in lines), batch=1),
        topic,
        bootstrap=kafka_bootstrap,
        security=security,
    )
    assert produced_records == len(lines)

    records, events = await ingest(kafka_bootstrap, topic, dlq_topic, 3, generator.now_ms)
    assert records == len(lines)

    # Where each poison line landed: poison values are unique, valid repeats are not poison.
    inputs = await consume_all(kafka_bootstrap, topic, timeout=120)
    expected: dict[tuple[int, int], str] = {}
    for record in inputs:
        assert record.value is not None
        kind = kind_of_value[record.value]
        if kind.startswith(POISON_PREFIX) and kind != POISON_PREFIX + "too_old":
            expected[(record.partition, record.offset)] = kind.removeprefix(POISON_PREFIX)
    input_by_position = {(r.partition, r.offset): r for r in inputs}

    dead = await consume_all(kafka_bootstrap, dlq_topic, timeout=120)
    found: dict[tuple[int, int], str] = {}
    for record in dead:
        headers = dict(record.headers)
        assert headers["css.source.topic"] == topic.encode()
        position = (int(headers["css.source.partition"]), int(headers["css.source.offset"]))
        reason = headers["css.error.reason"].decode()
        found[position] = reason
        detail = headers["css.error.detail"].decode()
        assert 0 < len(detail) <= MAX_DETAIL_CHARS
        original = input_by_position[position]
        assert original.value is not None
        assert record.key == original.key
        if reason == "too_large":
            assert headers["css.error.truncated"] == b"true"
            assert headers["css.error.original_bytes"] == str(len(original.value)).encode()
            assert record.value == original.value[:TOO_LARGE_KEEP_BYTES]
        else:
            assert record.value == original.value  # single-event records go whole
            assert record.value not in detail.encode()
    assert found == expected
    assert len(expected) >= 20  # the run really exercised the DLQ

    # Nothing valid lost: every non-poison line (repeats included) and every too_old
    # line decoded (the worker, not the decoder, drops repeats and too_old events).
    decodable = sum(
        1
        for _, kind in lines
        if not kind.startswith(POISON_PREFIX) or kind == POISON_PREFIX + "too_old"
    )
    assert events == decodable
    assert produced_events == len(lines)


def test_cli_produce_batches_by_org_and_tick_reaches_every_partition(
    kafka_bootstrap: str,
    unique_topic: Callable[[str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    topic = unique_topic("telemetry")
    source = tmp_path / "in.jsonl"
    generator = TelemetryGenerator(4, 2, seed=9)
    lines = [line for line, _ in generator.records()]
    source.write_bytes(b"\n".join(lines) + b"\n")

    assert (
        main(["produce", str(source), "--topic", topic, "--batch", "50", "--partitions", "3"]) == 0
    )
    last = capsys.readouterr().err.strip().splitlines()[-1]
    records_text, events_text, word = last.split()
    assert word == "acknowledged"
    assert int(events_text.removeprefix("events=")) == len(lines)

    assert main(["tick", "--topic", topic, "--time", TICK_TIME]) == 0
    consumed = asyncio.run(consume_all(kafka_bootstrap, topic, timeout=60))
    assert {r.partition for r in consumed} == {0, 1, 2}
    events_seen = 0
    ticks_by_partition: Counter[int] = Counter()
    for record in consumed:
        assert record.value is not None
        result = decode_record(record.value, generator.now_ms + 10**13)
        assert not result.rejections
        assert record.key is not None
        assert {event.subject for _, event in result.events} == {record.key.decode()}
        first = result.events[0][1]
        if first.is_tick and first.time_ms == parse_time_ms(TICK_TIME):
            ticks_by_partition[record.partition] += 1
            continue
        events_seen += len(result.events)
    assert ticks_by_partition == {0: 1, 1: 1, 2: 1}
    assert events_seen == len(lines)
    assert len(consumed) - 3 == int(records_text.removeprefix("records="))
    assert len(consumed) - 3 < len(lines)  # batching grouped lines
