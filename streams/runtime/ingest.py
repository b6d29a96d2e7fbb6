"""The ingest stage: input records -> validated events, batched per org partition.

Faust costs tens of microseconds per record it hands an agent, whatever the record holds,
so a worker that gave Faust one record per event would stall near 10,000 events/s
(kafka-local.md). This stage consumes the input topic with aiokafka directly (consumer
group ``{app_id}-ingest``), decodes each record with the stateless decoder, dead-letters
the rejects, and writes the valid events, with each one's input position, to the internal
topic ``{app_id}-events``: one internal record per (input partition, org partition) per
poll, at the org's partition (Kafka's default partitioner over the org id), so mis-keyed
records are re-keyed on the way. ``clock.tick`` events stay in their own partition.

Input offsets are committed only after the internal and dead-letter records are
acknowledged. A crash in between re-ingests those records; the agent recognises them by
their input offsets, kept in each org's state, and skips them (spec section 10), so
nothing is lost and nothing applied twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from scoring.events import Event
from streams.codec.decoding import DecodedRecord, decode_record
from streams.codec.dlq import dlq_headers
from streams.config import MAX_REQUEST_BYTES, KafkaSecurity, Settings
from streams.runtime.metrics import Metrics
from streams.runtime.routing import partition_for_key

log = logging.getLogger("csscore.ingest")

MAX_INTERNAL_EVENTS = 5_000
MAX_INTERNAL_BYTES = 512 * 1024
FETCH_WAIT_MS = 25  # added latency bound for a live stream (see Ingestor.run)


def event_row(event: Event) -> list[Any]:
    """Compact form of a validated event inside an internal record."""
    return [event.type, event.subject, event.source, event.id, event.time_ms, dict(event.data)]


def event_from_row(row: list[Any]) -> Event:
    event_type, subject, source, event_id, time_ms, data = row
    return Event(event_type, subject, source, event_id, time_ms, data)


@dataclass(slots=True)
class InternalBatch:
    """Records of one input partition bound for one internal partition."""

    source: str
    target: int
    records: list[list[Any]] = field(default_factory=list)  # [offset, timestamp_s, rows]
    events: int = 0
    size: int = 0

    def add(self, offset: int, timestamp: float, rows: list[list[Any]], size: int) -> None:
        self.records.append([offset, timestamp, rows])
        self.events += len(rows)
        self.size += size

    def full(self) -> bool:
        return self.events >= MAX_INTERNAL_EVENTS or self.size >= MAX_INTERNAL_BYTES

    def encode(self) -> bytes:
        return orjson.dumps({"kind": "batch", "source": self.source, "records": self.records})


@dataclass(slots=True)
class RoutedPoll:
    """What one poll of one input partition produces."""

    batches: list[InternalBatch] = field(default_factory=list)
    dead_letters: list[tuple[bytes, list[tuple[str, bytes]]]] = field(default_factory=list)


def route_records(
    topic: str,
    partition: int,
    messages: list[Any],
    partitions: int,
    now_ms: int,
    metrics: Metrics | None = None,
) -> RoutedPoll:
    """Decode and route one input partition's messages (pure apart from metrics)."""
    source = f"{topic}:{partition}"
    routed = RoutedPoll()
    open_batches: dict[int, InternalBatch] = {}
    for message in messages:
        value: bytes = message.value or b""
        decoded: DecodedRecord = decode_record(value, now_ms)
        for rejection in decoded.rejections:
            headers = dlq_headers(rejection, topic, partition, message.offset, len(value))
            routed.dead_letters.append((rejection.raw, headers))
            if metrics is not None:
                metrics.rejected.labels(rejection.reason).inc()
        by_target: dict[int, list[list[Any]]] = {}
        for _, event in decoded.events:
            target = partition if event.is_tick else partition_for_key(event.subject, partitions)
            by_target.setdefault(target, []).append(event_row(event))
        timestamp = (message.timestamp or 0) / 1000
        for target, rows in by_target.items():
            batch = open_batches.get(target)
            if batch is None or batch.full():
                batch = open_batches[target] = InternalBatch(source, target)
                routed.batches.append(batch)
            batch.add(message.offset, timestamp, rows, len(value))
        if metrics is not None:
            metrics.records.inc()
    return routed


class Ingestor:
    """Runs the ingest loop inside the worker's event loop."""

    def __init__(
        self,
        settings: Settings,
        security: KafkaSecurity,
        metrics: Metrics,
        *,
        partitions: int,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.security = security
        self.metrics = metrics
        self.partitions = partitions
        self.wall_clock = wall_clock
        self.last_record_at: dict[int, float] = {}
        self.last_advance_at: dict[int, float] = {}

    async def run(self) -> None:
        settings = self.settings
        consumer = AIOKafkaConsumer(
            settings.input_topic,
            bootstrap_servers=settings.bootstrap_servers,
            group_id=settings.ingest_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=MAX_REQUEST_BYTES,
            fetch_max_bytes=4 * MAX_REQUEST_BYTES,
            # A live stream of small records: wait up to FETCH_WAIT_MS for 64 KiB, so each
            # pass through the pipeline (internal record, agent pass, commits) carries
            # tens of events instead of one or two. A backlog fills fetches at once.
            fetch_min_bytes=64 * 1024,
            fetch_max_wait_ms=FETCH_WAIT_MS,
            **self.security.aiokafka_kwargs(),
        )
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            acks="all",
            linger_ms=2,
            max_request_size=MAX_REQUEST_BYTES,
            **self.security.aiokafka_kwargs(),
        )
        await producer.start()
        await consumer.start()
        try:
            while True:
                polled = await consumer.getmany(timeout_ms=200, max_records=20_000)
                if polled:
                    await self._forward(consumer, producer, polled)
                await self._observe_lag(consumer)
                if settings.idle_advance_seconds > 0:
                    await self._advance_idle(consumer, producer)
        finally:
            await consumer.stop()
            await producer.stop()

    async def _forward(
        self,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        polled: dict[TopicPartition, list[Any]],
    ) -> None:
        now_ms = int(self.wall_clock() * 1000)
        futures = []
        commits: dict[TopicPartition, int] = {}
        for tp, messages in polled.items():
            if not messages:
                continue
            routed = route_records(
                tp.topic, tp.partition, messages, self.partitions, now_ms, self.metrics
            )
            for batch in routed.batches:
                futures.append(
                    await producer.send(
                        self.settings.events_topic, batch.encode(), partition=batch.target
                    )
                )
            for value, headers in routed.dead_letters:
                self.metrics.dlq_writes.inc()
                futures.append(await producer.send(self.settings.dlq_topic, value, headers=headers))
            commits[tp] = messages[-1].offset + 1
            self.last_record_at[tp.partition] = self.wall_clock()
        await asyncio.gather(*futures)  # a failed send raises: the worker stops, no commit
        await consumer.commit(commits)

    async def _observe_lag(self, consumer: AIOKafkaConsumer) -> None:
        """css_consumer_lag_records: input records not yet ingested, per partition."""
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            position = await consumer.position(tp)
            self.metrics.consumer_lag.labels(str(tp.partition)).set(max(0, highwater - position))

    async def _advance_idle(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer) -> None:
        """CSS_IDLE_ADVANCE_SECONDS: a caught-up partition quiet for that long gets its
        watermark advanced to the wall clock (never during a replay: lag must be 0)."""
        now = self.wall_clock()
        quiet = self.settings.idle_advance_seconds
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            position = await consumer.position(tp)
            if highwater is None or position < highwater:
                continue
            last = max(
                self.last_record_at.get(tp.partition, 0.0),
                self.last_advance_at.get(tp.partition, 0.0),
            )
            if now - last < quiet:
                continue
            self.last_advance_at[tp.partition] = now
            body = orjson.dumps({"kind": "advance", "time_ms": int(now * 1000)})
            await producer.send_and_wait(self.settings.control_topic, body, partition=tp.partition)
