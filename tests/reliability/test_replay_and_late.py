"""Dedup across restarts and an offset replay, and late data.

5. 1 % poison and 10 % duplicates, then a replay of 5,000 input offsets (every group that
   reads the input topic reset back while the worker is stopped): the final records equal
   ``csscore score``'s and the distinct (css.source.partition, css.source.offset) pairs in
   the DLQ are exactly the poison records' positions.
6. Late and out-of-order events, within and beyond grace, after the months closed: the
   final records equal the offline ones and the latest closed month was revised.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from scoring.timeutil import (
    HOUR_MS,
    format_time_ms,
    latest_closed_month,
    month_of,
    month_start_ms,
    parse_time_ms,
)
from streams.codec.dlq import HEADER_SOURCE_OFFSET, HEADER_SOURCE_PARTITION
from tests.kafka_helpers import consume_all, end_offsets
from tests.reliability.scenario import GRACE_MS, Scenario, generated, report

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.slow]

REPLAY_OFFSETS = 5_000


async def rewind_group(bootstrap: str, group: str, topic: str, total: int) -> int:
    """Move ``group``'s committed offsets on ``topic`` back by ``total`` records in all
    (spread over the partitions in proportion to their size); the number rewound. The
    group must have no live member."""
    ends = await end_offsets(bootstrap, topic)
    size = sum(ends.values())
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    rewound = 0
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(ends)]
        consumer.assign(partitions)  # manual: no group join, the commit sets the offsets
        shares = {p: total * end // max(size, 1) for p, end in ends.items()}
        # Rounding leftovers go to the largest partition, so the shares add up to total.
        shares[max(ends, key=lambda p: ends[p])] += total - sum(shares.values())
        targets = {}
        for tp in partitions:
            committed = await consumer.committed(tp)
            assert committed is not None, f"{group} never committed {tp}"
            back = min(committed, shares[tp.partition])
            targets[tp] = OffsetAndMetadata(committed - back, "")
            rewound += back
        await consumer.commit(targets)
    finally:
        await consumer.stop()
    return rewound


async def dead_letter_positions(bootstrap: str, topic: str) -> tuple[set[tuple[int, int]], int]:
    records = await consume_all(bootstrap, topic, timeout=60)
    positions = set()
    for record in records:
        headers = dict(record.headers)
        positions.add((int(headers[HEADER_SOURCE_PARTITION]), int(headers[HEADER_SOURCE_OFFSET])))
    return positions, len(records)


async def input_positions(bootstrap: str, topic: str) -> dict[bytes, list[tuple[int, int]]]:
    """Every input value -> the (partition, offset) positions it was written at."""
    where: dict[bytes, list[tuple[int, int]]] = defaultdict(list)
    for record in await consume_all(bootstrap, topic, timeout=60):
        where[record.value or b""].append((record.partition, record.offset))
    return where


@pytest.mark.timeout(420)
def test_poison_duplicates_and_a_replay_of_5000_offsets(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    lines, moment = generated(7, 14, seed=505, bad_rate=0.01, dup_rate=0.10)
    # One line per record, so a poison line's position is its record's position.
    scenario = Scenario(kafka_bootstrap, tmp_path, lines, moment, batch=1, name="replay")
    assert len(scenario.records) == len(lines) > REPLAY_OFFSETS

    async def run() -> dict[str, object]:
        await scenario.create_input()
        await scenario.produce()
        worker = scenario.worker("a")
        worker.start()
        try:
            await scenario.settle()
            assert worker.stop() == 0, worker.log_text()[-3000:]
            # Every group that reads the input topic: the ingest stage's.
            rewound = await rewind_group(
                kafka_bootstrap,
                f"{scenario.app_id}-ingest",
                scenario.input_topic,
                REPLAY_OFFSETS,
            )
            worker.start()
            # Bounded so a stuck replay fails here, well within the test's timeout.
            await scenario.settle(timeout=300)
        finally:
            codes = scenario.stop_all()
        assert codes == [0], scenario.logs()
        figures, problems = await scenario.compare()
        assert not problems, "\n".join(problems)
        where = await input_positions(kafka_bootstrap, scenario.input_topic)
        poison = {
            position
            for rejection in scenario.offline.rejections
            for position in where[lines[rejection.line - 1]]
        }
        dead, dlq_records = await dead_letter_positions(kafka_bootstrap, scenario.dlq_topic)
        figures.update(
            replayed_offsets=rewound,
            restarts=worker.starts - 1,
            poison_records=len(poison),
            dlq_records=dlq_records,
            dlq_distinct_positions=len(dead),
            dlq_missing=len(poison - dead),
            dlq_not_poison=len(dead - poison),
        )
        return figures

    figures = asyncio.run(run())
    report("poison + duplicates + replay", figures)
    assert figures["replayed_offsets"] == REPLAY_OFFSETS
    assert figures["lost"] == 0 and figures["double_counted"] == 0
    assert figures["poison_records"] > 0
    assert figures["dlq_missing"] == 0 and figures["dlq_not_poison"] == 0


def _late_copies(lines: list[bytes], closed_month: int, open_month: int) -> list[bytes]:
    """New events (fresh ids) copied from existing ones of some orgs: one dated in the
    latest closed month (beyond grace: that month has closed), one two months earlier
    (out of order, revises every month since), one in the open month (within grace)."""
    by_org: dict[str, dict[str, object]] = {}
    for line in lines:
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if (
            isinstance(doc, dict)
            and doc.get("type") == "order.placed"
            and isinstance(doc.get("subject"), str)
        ):
            by_org.setdefault(doc["subject"], doc)
    late: list[bytes] = []
    for org, template in sorted(by_org.items())[:4]:
        for month, offset_ms in (
            (closed_month, 3 * HOUR_MS),
            (closed_month - 2, 5 * HOUR_MS),
            (open_month, 1 * HOUR_MS),
        ):
            event = dict(template)
            event["id"] = f"late-{uuid.uuid4().hex}"
            event["time"] = format_time_ms(month_start_ms(month) + offset_ms)
            late.append(orjson.dumps(event))
            assert org == event["subject"]
    return late


@pytest.mark.timeout(300)
def test_late_and_out_of_order_events_revise_closed_months(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    base, moment = generated(6, 8, seed=606, dup_rate=0.05)
    probe = Scenario(kafka_bootstrap, tmp_path, base, moment, batch=1, name="late-probe")
    assert probe.offline.watermark_ms is not None
    watermark = probe.offline.watermark_ms
    closed = latest_closed_month(watermark, GRACE_MS)
    assert closed is not None
    late = _late_copies(base, closed, month_of(watermark))
    assert all(parse_time_ms(orjson.loads(x)["time"]) < watermark for x in late)
    scenario = Scenario(kafka_bootstrap, tmp_path, base + late, moment, batch=1, name="late")
    assert scenario.offline.watermark_ms == watermark  # the late events are all older

    async def run() -> tuple[dict[str, object], list[str], list[dict[str, object]]]:
        await scenario.create_input()
        await scenario.produce(scenario.records[: len(base)])
        worker = scenario.worker("a")
        worker.start()
        try:
            await scenario.settle()  # every month up to `closed` is now emitted
            await scenario.produce(scenario.records[len(base) :])
            await scenario.settle()
        finally:
            codes = scenario.stop_all()
        assert codes == [0], scenario.logs()
        figures, problems = await scenario.compare()
        from tests.worker_harness import output_records

        produced = await output_records(kafka_bootstrap, scenario.output_topic)
        return figures, problems, produced

    figures, problems, produced = asyncio.run(run())
    closed_period = format_time_ms(month_start_ms(closed))[:7]
    revised = [
        r
        for r in produced
        if r["kind"] == "monthly" and r["revision"] >= 1 and r["period"] == closed_period
    ]
    figures.update(late_events=len(late), revised_latest_closed=len(revised))
    report("late and out-of-order", figures)
    assert not problems, "\n".join(problems)
    assert figures["lost"] == 0 and figures["double_counted"] == 0
    assert revised, f"no monthly record of {closed_period} with revision >= 1"
