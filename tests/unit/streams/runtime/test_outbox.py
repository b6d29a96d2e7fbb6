"""The outbox: a pass's records in one producer batch per topic partition (order kept
within a partition, a full batch submitted and a new one started), dead letters without a
partition sent alone, failures reported, latency observed once per batch with live
records. The producer here is aiokafka's real ``BatchBuilder`` behind a recording
``send_batch``; the Faust internals the outbox reaches for are checked to exist in the
pinned versions."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import aiokafka
import faust.transport.drivers.aiokafka as faust_aiokafka
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch

from streams.pipeline.pass_result import Outgoing
from streams.runtime.outbox import Outbox, kafka_producer


class FakeKafkaProducer:
    """``create_batch`` / ``send_batch`` as aiokafka's, recording what is submitted."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.submitted: list[tuple[str, int, list[tuple[bytes | None, bytes]]]] = []
        self.fail = False
        self.resolve = True
        self.unresolved: list[asyncio.Future[Any]] = []

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(self.batch_size, 0, is_transactional=False)

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> Any:
        buffer = batch._build()
        records = [(r.key, r.value) for r in DefaultRecordBatch(bytes(buffer))]
        self.submitted.append((topic, partition, records))
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.fail:
            fut.set_exception(RuntimeError("broker said no"))
        elif self.resolve:
            fut.set_result(None)
        else:
            self.unresolved.append(fut)
        return fut


class FakeFaustProducer:
    def __init__(self, inner: FakeKafkaProducer) -> None:
        self.inner = inner
        self.single: list[tuple[str, bytes | None, bytes, Any]] = []

    def _ensure_producer(self) -> FakeKafkaProducer:
        return self.inner

    async def send(self, topic: str, key: Any, value: Any, partition: Any, *rest: Any) -> Any:
        self.single.append((topic, key, value, partition))
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut


def outbox(batch_size: int = 1 << 20) -> tuple[Outbox, FakeFaustProducer, list[Any], list[float]]:
    producer = FakeFaustProducer(FakeKafkaProducer(batch_size))
    failures: list[Any] = []
    latencies: list[float] = []
    box = Outbox(
        lambda: producer,
        lambda exc, where: failures.append((type(exc).__name__, where)),
        latencies.append,
        lambda: 105.0,
    )
    return box, producer, failures, latencies


def test_records_go_in_one_batch_per_topic_partition_in_order() -> None:
    box, producer, failures, latencies = outbox()
    sends = [
        Outgoing("scores", b"a", b"1", 0, is_live=True),
        Outgoing("scores", b"b", b"2", 1),
        Outgoing("scores", b"a", b"3", 0),
        Outgoing("dlq", b"x", b"bad", None, [("reason", b"schema_violation")]),
        Outgoing("scores", b"c", b"4", 1),
    ]
    asyncio.run(box.send(sends, input_timestamp_s=100.0))
    assert sorted(producer.inner.submitted) == [
        ("scores", 0, [(b"a", b"1"), (b"a", b"3")]),
        ("scores", 1, [(b"b", b"2"), (b"c", b"4")]),
    ]
    assert producer.single == [("dlq", b"x", b"bad", None)]
    assert failures == []
    assert latencies == [5.0]  # one sample: the one batch holding a live record


def test_a_full_batch_is_submitted_and_the_partition_continues_in_a_new_one() -> None:
    box, producer, _failures, _latencies = outbox(batch_size=300)
    values = [bytes([65 + i]) * 100 for i in range(7)]
    sends = [Outgoing("scores", b"k", value, 2) for value in values]
    asyncio.run(box.send(sends, input_timestamp_s=None))
    batches = producer.inner.submitted
    assert len(batches) > 1
    assert [value for _topic, _p, records in batches for _k, value in records] == values


def test_a_failed_batch_is_reported_with_its_topic() -> None:
    box, producer, failures, _latencies = outbox()
    producer.inner.fail = True

    async def run() -> None:
        await box.send([Outgoing("scores", b"a", b"1", 0)], input_timestamp_s=None)
        await asyncio.sleep(0)  # let the done callbacks run

    asyncio.run(run())
    assert failures == [("RuntimeError", "producing to scores")]


def test_deliveries_not_acknowledged_yet_are_pending_until_they_are() -> None:
    box, producer, _failures, _latencies = outbox()
    producer.inner.resolve = False

    async def run() -> None:
        sends = [Outgoing("scores", b"a", b"1", 0), Outgoing("dlq", b"x", b"bad", None)]
        await box.send(sends, input_timestamp_s=None)
        await asyncio.sleep(0)  # done callbacks run: the dead letter was acknowledged
        pending = box.pending()
        assert len(pending) == 1  # the batch of scores[0]
        for fut in producer.inner.unresolved:
            fut.set_result(None)
        await asyncio.gather(*pending)
        await asyncio.sleep(0)
        assert box.pending() == []

    asyncio.run(run())


def test_the_faust_and_aiokafka_calls_the_outbox_relies_on_exist() -> None:
    # faust-streaming 0.15.x keeps its AIOKafkaProducer behind _ensure_producer().
    assert callable(faust_aiokafka.Producer._ensure_producer)
    assert "create_batch" in dir(aiokafka.AIOKafkaProducer)
    parameters = inspect.signature(aiokafka.AIOKafkaProducer.send_batch).parameters
    assert list(parameters)[:3] == ["self", "batch", "topic"] and "partition" in parameters
    inner = FakeKafkaProducer(10)
    assert kafka_producer(FakeFaustProducer(inner)) is inner
