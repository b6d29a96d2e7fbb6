"""Writing a Faust table the way Kafka Streams flushes its record cache: every changed key of
a flush in one producer batch per changelog partition, then the partition's local store in
one write batch that also holds the changelog offset it has reached.

Faust's table API writes one key at a time (a changelog record with its own future and a
store write of the persisted offset per key) and only from inside a stream event. This
module goes through Faust's internals instead (faust-streaming 0.15.x, pinned; each call is
checked by ``tests/contract/test_faust_internals.py``):

- the table's changelog topic name (``Table.changelog_topic.get_topic_name()``);
- the aiokafka producer inside Faust's producer (``Producer._ensure_producer()``), for
  ``create_batch`` / ``send_batch``;
- the RocksDB store of one partition (``Store._db_for_partition``), its persisted-offset key
  (``Store.offset_key``) and its key index (``Store._key_index``); the memory store's dict
  (``Store.data``).

Faust's own recovery and standby replicas read the same changelog topic, in the format
Faust writes it (raw key and value bytes; a ``None`` value deletes the key), and resume
from the persisted offset written here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Write = tuple[bytes, bytes | None]  # (key, value); a None value deletes the key


@dataclass(frozen=True, slots=True)
class SentBatch:
    """One producer batch on its way to a changelog partition."""

    partition: int
    records: int
    delivery: asyncio.Future[Any]  # resolves to the batch's RecordMetadata (base offset)


class TableIO:
    """Reads and batched writes of one Faust table (``table``: a ``faust.Table`` of bytes)."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self.table.get(key)
        return value

    def items(self) -> Iterable[tuple[bytes, bytes]]:
        result: Iterable[tuple[bytes, bytes]] = self.table.items()
        return result

    @property
    def changelog_topic(self) -> str:
        name: str = self.table.changelog_topic.get_topic_name()
        return name

    async def send(self, producer: Any, partition: int, writes: list[Write]) -> list[SentBatch]:
        """Hand ``writes`` (in order) to the producer in as few batches as fit; the
        returned batches resolve once the broker acknowledged them."""
        sent: list[SentBatch] = []
        topic = self.changelog_topic
        builder = producer.create_batch()
        count = 0
        for key, value in writes:
            if builder.append(key=key, value=value, timestamp=None) is None:
                sent.append(await _submit(producer, builder, topic, partition, count))
                builder = producer.create_batch()
                count = 0
                builder.append(key=key, value=value, timestamp=None)  # the first always fits
            count += 1
        if count:
            sent.append(await _submit(producer, builder, topic, partition, count))
        return sent

    def write_local(self, partition: int, writes: list[Write], last_offset: int) -> None:
        """Apply ``writes`` to the partition's local store, with the changelog offset they
        reach (what recovery resumes after), in one atomic write batch."""
        store = self.table.data
        if hasattr(store, "_db_for_partition"):
            _write_rocksdb(store, partition, writes, last_offset)
        else:  # the memory store: recovered from the changelog's start, no offset kept
            data = store.data
            for key, value in writes:
                if value is None:
                    data.pop(key, None)
                else:
                    data[key] = value


async def _submit(
    producer: Any, builder: Any, topic: str, partition: int, count: int
) -> SentBatch:
    delivery = await producer.send_batch(builder, topic, partition=partition)
    return SentBatch(partition, count, asyncio.ensure_future(delivery))


def last_offset(batch: SentBatch) -> int:
    """The changelog offset of a delivered batch's last record."""
    metadata = batch.delivery.result()
    return int(metadata.offset) + batch.records - 1


def _write_rocksdb(store: Any, partition: int, writes: list[Write], offset: int) -> None:
    from rocksdict import WriteBatch  # Faust opens its databases with rocksdict, raw mode

    db = store._db_for_partition(partition)
    key_index = store._key_index
    batch = WriteBatch(raw_mode=True)
    for key, value in writes:
        if value is None:
            batch.delete(key)
        else:
            batch.put(key, value)
            key_index[key] = partition
    batch.put(store.offset_key, str(offset).encode())
    db.write(batch)
