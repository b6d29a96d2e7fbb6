"""Poison goes to the dead-letter topic, nothing valid is lost (real broker).

A generated mix with 5 % poison and 10 % duplicates is published with ``csscore
produce``'s code path, then a real worker scores it: every poison record, ``too_old``
included (decided by the scoring pass with the org's history), lands in the dead-letter
topic at its input position; repeats are dropped as duplicates, not dead-lettered.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devtools.generate import POISON_PREFIX, TelemetryGenerator
from scoring.timeutil import format_time_ms, parse_time_ms
from streams.cli.feed import plan_records, produce_records
from streams.cli.main import main
from streams.codec.decoding import TOO_LARGE_KEEP_BYTES, decode_record
from streams.codec.dlq import MAX_DETAIL_CHARS
from streams.config import KafkaSecurity
from tests.kafka_helpers import consume_all, create_topic
from tests.worker_harness import WorkerProcess, wait_caught_up

TICK_TIME = "2030-01-01T00:00:00Z"  # later than every generated event

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


async def score_with_a_worker(
    bootstrap: str, topic: str, dlq_topic: str, now_ms: int, workdir: Path
) -> tuple[int, int]:
    """Run a real worker over ``topic`` until it has caught up; (input records, valid
    events), from its metrics."""
    worker = WorkerProcess(
        bootstrap,
        f"{topic}-app",
        topic,
        f"{topic}-scores",
        dlq_topic,
        workdir / "data",
        workdir / "worker.log",
    )
    worker.start()
    try:
        await wait_caught_up(
            bootstrap, worker.app_id, [topic], worker.output_topic, timeout=240, worker=worker
        )
        port = worker.metrics_port()
        assert port is not None, worker.log_text()[-2000:]
        scraped = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10)
        text = scraped.read().decode()
    finally:
        assert worker.stop() == 0, worker.log_text()[-2000:]
    values: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in ("css_input_records_total", "css_events_total"):
                values[sample.name] += int(sample.value)
    return values["css_input_records_total"], values["css_events_total"]


async def test_dlq_holds_exactly_the_poison(
    kafka_bootstrap: str, unique_topic: Callable[[str], str], tmp_path: Path
) -> None:
    topic, dlq_topic = unique_topic("telemetry"), unique_topic("telemetry.dlq")
    await create_topic(kafka_bootstrap, topic, partitions=3)
    await create_topic(kafka_bootstrap, dlq_topic, partitions=1)

    # "now" is the wall clock: the worker checks future_timestamp against its own clock.
    now = format_time_ms(int(time.time()) // 3600 * 3_600_000)
    generator = TelemetryGenerator(5, 4, seed=42, now=now, bad_rate=0.05, dup_rate=0.1)
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

    records, events = await score_with_a_worker(
        kafka_bootstrap, topic, dlq_topic, generator.now_ms, tmp_path
    )
    assert records == len(lines)

    # Where each poison line landed: poison values are unique, valid repeats are not poison.
    inputs = await consume_all(kafka_bootstrap, topic, timeout=120)
    expected: dict[tuple[int, int], str] = {}
    for record in inputs:
        assert record.value is not None
        kind = kind_of_value[record.value]
        if kind.startswith(POISON_PREFIX):
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
        elif reason == "too_old":  # the event as the scoring pass read it
            assert orjson.loads(record.value)["id"] == orjson.loads(original.value)["id"]
        else:
            assert record.value == original.value  # single-event records go whole
            assert record.value not in detail.encode()
    assert found == expected
    assert len(expected) >= 20  # the run really exercised the DLQ

    # `csscore dead-letters` lists the same items with their reasons, values only on demand.
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    listed = subprocess.run(
        [sys.executable, "-m", "streams.cli", "dead-letters", "--topic", dlq_topic, "--json"],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    )  # fmt: skip
    items = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert {item["source"]: item["reason"] for item in items} == {
        f"{topic}[{partition}]@{offset}": reason for (partition, offset), reason in found.items()
    }
    assert all("value" not in item for item in items)
    assert f"{len(dead)} dead-lettered item(s)" in listed.stderr

    # Nothing valid lost: every non-poison line (repeats included) and every too_old
    # line was consumed as a valid event (the scoring pass drops repeats and too_old).
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
