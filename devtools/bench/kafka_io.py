"""Kafka clients of the bench: filling topics, offsets, consumer groups, reading back."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from devtools.kafka_local import broker_answers
from streams.config import MAX_REQUEST_BYTES

LIVE_MARK = b'"kind":"live"'
MONTHLY_MARK = b'"kind":"monthly"'


async def produce(
    bootstrap: str, topic: str, records: Iterable[tuple[bytes, bytes, int]]
) -> tuple[int, int]:
    """Publish (key, value, events) records as fast as acknowledgements allow."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
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


async def produce_to_partitions(bootstrap: str, topic: str, values: Mapping[int, bytes]) -> None:
    """One record per partition (``partition -> value``), acknowledged."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value=value, key=b"clock", partition=partition)
            for partition, value in values.items()
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


@dataclass
class TopicScan:
    """What was read back from one topic between two offset snapshots."""

    records: int = 0
    size: int = 0  # key + value bytes, uncompressed
    live: int = 0
    monthly: int = 0
    first_ts: int | None = None
    last_ts: int | None = None
    monthly_first_ts: int | None = None
    monthly_last_ts: int | None = None

    def add(self, key: bytes | None, value: bytes | None, timestamp: int) -> None:
        self.records += 1
        self.size += len(key or b"") + len(value or b"")
        if self.first_ts is None or timestamp < self.first_ts:
            self.first_ts = timestamp
        if self.last_ts is None or timestamp > self.last_ts:
            self.last_ts = timestamp
        if not value:
            return
        if LIVE_MARK in value:
            self.live += 1
        elif MONTHLY_MARK in value:
            self.monthly += 1
            if self.monthly_first_ts is None or timestamp < self.monthly_first_ts:
                self.monthly_first_ts = timestamp
            if self.monthly_last_ts is None or timestamp > self.monthly_last_ts:
                self.monthly_last_ts = timestamp


def merge_scans(scans: Iterable[TopicScan]) -> TopicScan:
    total = TopicScan()
    for scan in scans:
        total.records += scan.records
        total.size += scan.size
        total.live += scan.live
        total.monthly += scan.monthly
        for name, pick in (
            ("first_ts", min),
            ("last_ts", max),
            ("monthly_first_ts", min),
            ("monthly_last_ts", max),
        ):
            known = [v for v in (getattr(total, name), getattr(scan, name)) if v is not None]
            setattr(total, name, pick(known) if known else None)
    return total


class KafkaProbe:
    """One consumer (no group) and one admin client for offsets, groups and read-backs."""

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

    async def end_offsets_of(self, topics: Sequence[str]) -> dict[TopicPartition, int]:
        """End offsets of every partition of ``topics`` (one metadata refresh)."""
        await self.consumer._client.force_metadata_update()
        tps = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(self.consumer.partitions_for_topic(topic) or set())
        ]
        if not tps:
            return {}
        ends: dict[TopicPartition, int] = await self.consumer.end_offsets(tps)
        return ends

    async def topics_with_prefix(self, prefix: str) -> list[str]:
        names = await self.admin.list_topics()
        return sorted(name for name in names if name.startswith(prefix))

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

    async def stable_members(self, group: str) -> int:
        """Members of ``group`` when it is Stable (assignment done), else 0."""
        try:
            responses = await self.admin.describe_consumer_groups([group])
        except KafkaError:
            return 0
        for response in responses:
            for described in response.groups:
                # (error_code, group_id, state, protocol_type, protocol, members, ...)
                if described[1] == group and described[2] == "Stable":
                    return len(described[5])
        return 0


async def scan_topics(
    bootstrap: str,
    starts: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
    timeout_s: float = 600.0,
) -> dict[str, TopicScan]:
    """Read every record of ``[starts, ends)`` per partition (a partition missing from
    ``starts`` from its beginning); per topic: records, key + value bytes, live and
    monthly records, first and last broker timestamps. Compaction may have removed a few
    records: callers scale by end-offset deltas, not by ``records``."""
    scans: dict[str, TopicScan] = {tp.topic: TopicScan() for tp in ends}
    wanted = {tp: end for tp, end in ends.items() if end > starts.get(tp, 0)}
    if not wanted:
        return scans
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=MAX_REQUEST_BYTES,
        fetch_max_bytes=4 * MAX_REQUEST_BYTES,
    )
    await consumer.start()
    try:
        consumer.assign(list(wanted))
        for tp in wanted:
            consumer.seek(tp, starts.get(tp, 0))
        remaining = dict(wanted)
        deadline = time.monotonic() + timeout_s
        empty_polls = 0
        while remaining and time.monotonic() < deadline and empty_polls < 5:
            batches = await consumer.getmany(timeout_ms=1000, max_records=50_000)
            if not batches:
                # Nothing more to read (compacted away at the end): check the positions.
                empty_polls += 1
                for tp in list(remaining):
                    if await consumer.position(tp) >= remaining[tp]:
                        del remaining[tp]
                continue
            empty_polls = 0
            for tp, batch in batches.items():
                end = remaining.get(tp)
                if end is None:
                    continue
                scan = scans[tp.topic]
                for record in batch:
                    if record.offset >= end:
                        break
                    scan.add(record.key, record.value, record.timestamp)
                if batch[-1].offset + 1 >= end:
                    del remaining[tp]
                    consumer.pause(tp)
    finally:
        await consumer.stop()
    return scans


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


async def topic_exists(consumer: AIOKafkaConsumer, topic: str) -> bool:
    await consumer._client.force_metadata_update()
    return bool(consumer.partitions_for_topic(topic))


def reachable_bootstrap() -> str | None:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if configured and any(broker_answers(a.strip()) for a in configured.split(",")):
        return configured
    return None
