"""Hands a pass's records to the Kafka producer in per-partition batches, and watches
their delivery.

A failed send stops the worker (``on_failure``): the record is re-read after a restart.
The deliveries not yet acknowledged are kept (``pending``): a state flush awaits them
before it writes anything (``streams.runtime.state_flush``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from streams.pipeline.pass_result import Outgoing


class Outbox:
    def __init__(
        self,
        producer: Callable[[], Any],
        on_failure: Callable[[BaseException, str], None],
        observe_latency: Callable[[float], None],
        wall_clock: Callable[[], float],
    ) -> None:
        self.producer = producer  # the app's producer exists only once the app runs
        self.on_failure = on_failure
        self.observe_latency = observe_latency
        self.wall_clock = wall_clock
        self.in_flight: set[asyncio.Future[Any]] = set()

    def pending(self) -> list[asyncio.Future[Any]]:
        """The deliveries handed to the producer and not acknowledged yet."""
        return list(self.in_flight)

    async def send(self, sends: list[Outgoing], *, input_timestamp_s: float | None) -> None:
        """Send every record, in one producer batch per topic partition (one future per
        batch, not per record; records of a partition keep their order). A record without
        a partition (a dead letter: the default partitioner places it) is sent alone."""
        faust_producer = self.producer()
        producer = kafka_producer(faust_producer)
        open_batches: dict[tuple[str, int], _Batch] = {}
        for out in sends:
            partition = out.partition
            if partition is None:
                fut = asyncio.ensure_future(
                    await faust_producer.send(
                        out.topic, out.key, out.value, None, None, out.headers
                    )
                )
                self._track(fut, out.topic, False, input_timestamp_s)
                continue
            where = (out.topic, partition)
            batch = open_batches.get(where)
            if batch is None:
                batch = open_batches[where] = _Batch(producer.create_batch())
            if not batch.append(out):  # full: submit it, start the next one
                await self._submit(producer, where, batch, input_timestamp_s)
                batch = open_batches[where] = _Batch(producer.create_batch())
                batch.append(out)  # the first record always fits
        for where, batch in open_batches.items():
            await self._submit(producer, where, batch, input_timestamp_s)

    async def send_and_wait(self, topic: str, value: bytes, partition: int) -> None:
        fut = await self.producer().send(topic, None, value, partition, None, None)
        await fut

    async def _submit(
        self, producer: Any, where: tuple[str, int], batch: _Batch, stamp: float | None
    ) -> None:
        topic, partition = where
        fut: asyncio.Future[Any] = asyncio.ensure_future(
            await producer.send_batch(batch.builder, topic, partition=partition)
        )
        self._track(fut, topic, batch.has_live, stamp)

    def _track(
        self, fut: asyncio.Future[Any], topic: str, has_live: bool, stamp: float | None
    ) -> None:
        self.in_flight.add(fut)
        fut.add_done_callback(self.in_flight.discard)
        fut.add_done_callback(self._on_delivered(topic, has_live, stamp))

    def _on_delivered(
        self, topic: str, has_live: bool, stamp: float | None
    ) -> Callable[[Any], None]:
        def done(fut: Any) -> None:
            if fut.cancelled():
                return
            exc = fut.exception()
            if exc is not None:
                self.on_failure(exc, f"producing to {topic}")
            elif has_live and stamp is not None:
                # One sample per delivered batch: its live records share the input time.
                self.observe_latency(max(0.0, self.wall_clock() - stamp))

        return done


class _Batch:
    """An open producer batch for one topic partition."""

    __slots__ = ("builder", "has_live")

    def __init__(self, builder: Any) -> None:
        self.builder = builder
        self.has_live = False

    def append(self, out: Outgoing) -> bool:
        """Add ``out``; False when the batch is full (``out`` not added)."""
        added = self.builder.append(
            key=out.key, value=out.value, timestamp=None, headers=out.headers or []
        )
        if added is None:
            return False
        self.has_live = self.has_live or out.is_live
        return True


def kafka_producer(faust_producer: Any) -> Any:
    """The ``AIOKafkaProducer`` inside Faust's producer (faust-streaming 0.15.x:
    ``Producer._ensure_producer()``), for ``create_batch`` / ``send_batch``, which Faust's
    own producer does not offer."""
    return faust_producer._ensure_producer()
