"""Reusable Kafka helpers for the tests (aiokafka, async).

Producers use ``max_request_size`` = 8 MiB, matching the broker's ``message.max.bytes``.
``BrokerHandle`` wraps a private embedded broker for fault tests (kill, restart, stop).
Import as ``from tests.kafka_helpers import ...`` (``tests/conftest.py`` puts the
repository root on ``sys.path``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from devtools.kafka_local import LocalBroker
from streams.config import MAX_REQUEST_BYTES
from streams.runtime.topics import create_topic as create_topic  # re-exported for tests

Bytesish = bytes | str | None


def unique_topic(prefix: str = "t") -> str:
    """A topic name no other test (or earlier run on a shared broker) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _as_bytes(value: Bytesish) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return value.encode()


@dataclass(frozen=True)
class ConsumedRecord:
    """One record as read back, with everything a test may want to assert on."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp: int


async def produce_lines(
    bootstrap: str,
    topic: str,
    values: Sequence[Bytesish],
    keys: Sequence[Bytesish] | None = None,
    headers: Sequence[Sequence[tuple[str, bytes]]] | None = None,
) -> None:
    """Publish ``values`` in order (with ``keys``/``headers`` when given), acks=all."""
    if keys is not None and len(keys) != len(values):
        raise ValueError("keys and values differ in length")
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        max_request_size=MAX_REQUEST_BYTES,
        linger_ms=5,
    )
    await producer.start()
    try:
        pending = []
        for index, value in enumerate(values):
            pending.append(
                await producer.send(
                    topic,
                    value=_as_bytes(value),
                    key=_as_bytes(keys[index]) if keys is not None else None,
                    headers=list(headers[index]) if headers is not None else None,
                )
            )
        await producer.flush()
        for delivery in pending:
            await delivery  # raises if any record was not acknowledged
    finally:
        await producer.stop()


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """The end (next) offset of every partition of ``topic``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic) or set()
        positions = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return {tp.partition: offset for tp, offset in positions.items()}
    finally:
        await consumer.stop()


async def consume_all(bootstrap: str, topic: str, timeout: float = 30.0) -> list[ConsumedRecord]:
    """Read ``topic`` from the beginning up to its end offsets taken now (no group).

    Waits for facts (every partition's position reaches its end offset), bounded by
    ``timeout``; raises ``TimeoutError`` rather than returning a short list.
    """
    targets = await end_offsets(bootstrap, topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_bytes=4 * MAX_REQUEST_BYTES,
        max_partition_fetch_bytes=MAX_REQUEST_BYTES,
    )
    await consumer.start()
    records: list[ConsumedRecord] = []
    try:
        assigned = [TopicPartition(topic, p) for p in targets]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        deadline = time.monotonic() + timeout
        remaining = {tp for tp in assigned if targets[tp.partition] > 0}
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: not all records read within {timeout} s")
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for tp, messages in batches.items():
                for message in messages:
                    if message.offset < targets[tp.partition]:
                        records.append(
                            ConsumedRecord(
                                topic=message.topic,
                                partition=message.partition,
                                offset=message.offset,
                                key=message.key,
                                value=message.value,
                                headers=tuple(message.headers or ()),
                                timestamp=message.timestamp,
                            )
                        )
            for tp in list(remaining):
                if await consumer.position(tp) >= targets[tp.partition]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    records.sort(key=lambda r: (r.partition, r.offset))
    return records


@dataclass
class BrokerHandle:
    """A private embedded broker for one test (started by ``kafka_broker_factory``)."""

    data_dir: Path
    port: int | None = None
    sasl_scram_user: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    bootstrap: str = ""

    @property
    def _broker(self) -> LocalBroker:
        return LocalBroker(self.data_dir)

    @property
    def sasl_bootstrap(self) -> str | None:
        return self._broker.sasl_bootstrap

    def start(self) -> str:
        self.bootstrap = self._broker.start(
            port=self.port,
            sasl_scram_user=self.sasl_scram_user,
            sasl_password=self.sasl_password,
        )
        # Later restarts keep this address, so clients can reconnect to the same one.
        self.port = int(self.bootstrap.rpartition(":")[2])
        return self.bootstrap

    def kill(self) -> bool:
        """SIGKILL: the broker dies without a clean shutdown."""
        return self._broker.kill()

    def stop(self, timeout: float = 30.0) -> bool:
        return self._broker.stop(timeout)

    def restart(self) -> str:
        """Stop (if running) and start again on the same data dir and port."""
        self.stop()
        return self.start()

    def is_running(self) -> bool:
        return self._broker.status().running
