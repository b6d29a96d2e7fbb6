"""Poison goes to the dead-letter topic, nothing valid is lost (issue 4, real broker).

A generated mix with 5 % poison and 10 % duplicates is published with ``csscore
produce``'s code path, then a small ingestion loop (consume, ``decode_record``, dead-letter
through ``DeadLetterWriter``) reads it. The stateful parts (``too_old``, duplicates) belong
to the scoring worker, so here ``too_old`` poison and repeats count as decodable events.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from devtools.generate import POISON_PREFIX, TelemetryGenerator
from scoring.timeutil import parse_time_ms
from streams.cli.feed import plan_records, produce_records
from streams.cli.main import main
from streams.codec.decoding import TOO_LARGE_KEEP_BYTES, decode_record
from streams.codec.dlq import MAX_DETAIL_CHARS, DeadLetterWriter
from streams.config import MAX_REQUEST_BYTES, KafkaSecurity
from tests.kafka_helpers import consume_all, create_topic, end_offsets

TICK_TIME = "2030-01-01T00:00:00Z"  # later than every generated event

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


async def ingest(
    bootstrap: str, topic: str, writer: DeadLetterWriter, now_ms: int
) -> tuple[int, int]:
    """Decode every record of ``topic`` up to its current end; (records, valid events)."""
    targets = await end_offsets(bootstrap, topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=MAX_REQUEST_BYTES,
        fetch_max_bytes=4 * MAX_REQUEST_BYTES,
    )
    await consumer.start()
    records = events = 0
    try:
        partitions = [TopicPartition(topic, p) for p in targets]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        remaining = {tp for tp in partitions if targets[tp.partition] > 0}
        deadline = time.monotonic() + 120
        while remaining:
            assert time.monotonic() < deadline, "ingestion did not reach the end offsets"
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for messages in batches.values():
                for message in messages:
                    records += 1
                    result = decode_record(message.value, now_ms)
                    events += len(result.events)
                    for rejection in result.rejections:
                        await writer.write(
                            rejection,
                            source_topic=message.topic,
                            partition=message.partition,
                            offset=message.offset,
                            original_size=len(message.value),
                            key=message.key,
                        )
            for tp in list(remaining):
                if await consumer.position(tp) >= targets[tp.partition]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return records, events


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

    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, acks="all", **security.producer_kwargs()
    )
    await producer.start()
    try:
        writer = DeadLetterWriter(producer, topic=dlq_topic)
        records, events = await ingest(kafka_bootstrap, topic, writer, generator.now_ms)
    finally:
        await producer.stop()
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
