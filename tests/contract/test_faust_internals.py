"""The Faust and aiokafka internals the worker's state flush uses (faust-streaming 0.15.x
pinned): each is exercised here on the real classes, so an upgrade that moves one fails
this test instead of a worker.

- ``Table.changelog_topic.get_topic_name()``; ``Store._db_for_partition``, ``offset_key``,
  ``_key_index`` and ``persisted_offset`` of the RocksDB store (``TableIO.write_local``
  writes the values and the offset in one rocksdict ``WriteBatch``); the memory store's
  ``data`` dict;
- ``Producer._ensure_producer`` and aiokafka's ``create_batch`` / ``send_batch``, whose
  future resolves with the batch's base offset (``table_io.last_offset``);
- ``Stream.noack`` and ``Event.ack`` (manual acks), and ``Consumer.commit(topics,
  start_new_transaction)`` (the rewinding consumer flushes before it).
"""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import faust
import pytest
from aiokafka.producer.message_accumulator import MessageBatch
from faust.transport.drivers.aiokafka import Consumer, Producer
from faust.types import TP

from streams.runtime.table_io import SentBatch, TableIO, last_offset


def app_with_table(tmp_path: Path, store: str) -> tuple[faust.App, TableIO]:
    app = faust.App("contract", broker="kafka://127.0.0.1:1", store=store, datadir=str(tmp_path))
    table = app.Table("orgs", key_type=bytes, value_type=bytes, partitions=3)
    return app, TableIO(table)


def test_a_rocksdb_partition_takes_the_values_and_the_offset_in_one_batch(tmp_path: Path) -> None:
    _app, io = app_with_table(tmp_path, "rocksdb://")
    assert io.changelog_topic == "contract-orgs-changelog"
    io.write_local(2, [(b"a", b"1"), (b"gone", b"x")], 41)
    io.write_local(2, [(b"gone", None), (b"b", b"2")], 43)
    store = io.table.data
    assert store.persisted_offset(TP("contract-orgs-changelog", 2)) == 43
    assert store.persisted_offset(TP("contract-orgs-changelog", 0)) is None
    assert io.get(b"a") == b"1" and io.get(b"b") == b"2" and io.get(b"gone") is None
    # (``items()`` lists only partitions assigned to a running worker: not here.)


def test_the_memory_store_is_a_dict(tmp_path: Path) -> None:
    _app, io = app_with_table(tmp_path, "memory://")
    io.write_local(0, [(b"a", b"1"), (b"b", b"2"), (b"b", None)], 7)
    assert io.table.data.data == {b"a": b"1"}
    assert io.get(b"a") == b"1"


def test_a_batch_future_resolves_with_its_base_offset() -> None:
    async def run() -> int:
        batch = MessageBatch(TP("t", 0), _builder(), ttl=10, linger_time=0)
        batch.done(base_offset=100)
        delivery = asyncio.ensure_future(batch.future)
        return last_offset(SentBatch(0, 3, delivery)) if await delivery else -1

    assert asyncio.run(run()) == 102


def _builder() -> object:
    from aiokafka.producer.message_accumulator import BatchBuilder

    builder = BatchBuilder(1 << 10, 0, is_transactional=False)
    for n in range(3):
        builder.append(key=b"k", value=bytes([n]), timestamp=None)
    return builder


@pytest.mark.parametrize(
    ("owner", "name", "parameters"),
    [
        (faust.Stream, "noack", ["self"]),
        (faust.Event, "ack", ["self"]),
        (Consumer, "commit", ["self", "topics", "start_new_transaction"]),
        (Producer, "_ensure_producer", ["self"]),
    ],
)
def test_the_calls_exist_with_these_parameters(
    owner: type, name: str, parameters: list[str]
) -> None:
    assert list(inspect.signature(getattr(owner, name)).parameters) == parameters
