"""The ingest stage: input records, forwarded in raw batches to the internal topic.

Faust costs tens of microseconds per record it hands an agent, whatever the record holds,
so a worker that gave Faust one record per input record would stall near 10,000 events/s.
This stage consumes the input topic with aiokafka directly (consumer group
``{app_id}-ingest``) and writes what each poll of an input partition brought, as it came
(``streams.pipeline.ingest_routing``), in one or a few raw batches to the same partition
of the internal topic ``{app_id}-events``; the scoring pass decodes each record once.

Input offsets are committed only after the internal and dead-letter records are
acknowledged. A crash in between re-ingests those records; the scoring pass recognises
them by their input offsets, kept in each org's value, and skips them
(docs/scoring-rules.md section 10), so nothing is lost and nothing applied twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, RebalanceInProgressError

from streams.codec.internal import Source, encode_advance
from streams.config import MAX_REQUEST_BYTES, KafkaSecurity, Settings
from streams.pipeline.ingest_routing import route_records
from streams.runtime.metrics import Metrics

log = logging.getLogger("csscore.ingest")

FETCH_WAIT_MS = 25  # added latency bound for a live stream (see Ingestor.run)


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
        self.lag: dict[int, int] = {}  # input records not read yet, per partition
        self.records_read = 0

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
            enable_idempotence=True,  # a retried batch is not written twice
            linger_ms=2,
            max_request_size=MAX_REQUEST_BYTES,
            compression_type="lz4",  # raw batches of JSON records
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
            routed = route_records(Source(tp.topic, tp.partition), messages, now_ms)
            self.metrics.records.inc(routed.records)
            self.records_read += routed.records
            for reason, count in routed.rejected.items():
                self.metrics.rejected.labels(reason).inc(count)
            for batch in routed.batches:
                futures.append(
                    await producer.send(
                        self.settings.events_topic, batch.encode(), partition=tp.partition
                    )
                )
            self.metrics.dlq_writes.inc(len(routed.dead_letters))
            for key, value, headers in routed.dead_letters:
                futures.append(
                    await producer.send(self.settings.dlq_topic, value, key=key, headers=headers)
                )
            commits[tp] = messages[-1].offset + 1
            self.last_record_at[tp.partition] = self.wall_clock()
        await asyncio.gather(*futures)  # a failed send raises: the worker stops, no commit
        await self._commit(consumer, commits)

    async def _commit(self, consumer: AIOKafkaConsumer, commits: dict[TopicPartition, int]) -> None:
        """Commit what was forwarded, for the partitions still assigned. A rebalance while
        the forward awaited its acks may have moved some away (a broker loss makes that
        likely): their new owner reads them again from the last commit, and the agent skips
        what it already applied (offsets kept per org), so nothing is lost or counted twice."""
        assigned = consumer.assignment()
        still_ours = {tp: offset for tp, offset in commits.items() if tp in assigned}
        if not still_ours:
            return
        try:
            await consumer.commit(still_ours)
        except (IllegalStateError, CommitFailedError, RebalanceInProgressError) as exc:
            log.warning(
                "ingest commit skipped (%s): a rebalance moved partitions; they are read again",
                type(exc).__name__,
            )

    async def _observe_lag(self, consumer: AIOKafkaConsumer) -> None:
        """css_consumer_lag_records: input records not yet ingested, per partition."""
        assigned = consumer.assignment()
        for gone in set(self.lag) - {tp.partition for tp in assigned}:
            del self.lag[gone]
        for tp in assigned:
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            try:
                position = await consumer.position(tp)
            except IllegalStateError:
                continue  # revoked meanwhile (a rebalance)
            lag = self.lag[tp.partition] = max(0, highwater - position)
            self.metrics.consumer_lag.labels(str(tp.partition)).set(lag)

    async def _advance_idle(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer) -> None:
        """CSS_IDLE_ADVANCE_SECONDS: a caught-up partition quiet for that long gets its
        watermark advanced to the wall clock (never during a replay: lag must be 0)."""
        now = self.wall_clock()
        quiet = self.settings.idle_advance_seconds
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            try:
                position = await consumer.position(tp)
            except IllegalStateError:
                continue  # revoked meanwhile (a rebalance)
            if highwater is None or position < highwater:
                continue
            last = max(
                self.last_record_at.get(tp.partition, 0.0),
                self.last_advance_at.get(tp.partition, 0.0),
            )
            if now - last < quiet:
                continue
            self.last_advance_at[tp.partition] = now
            body = encode_advance(int(now * 1000))
            await producer.send_and_wait(self.settings.control_topic, body, partition=tp.partition)
