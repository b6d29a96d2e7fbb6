"""A Faust table and an aiokafka producer as ``streams.runtime.table_io`` uses them: the
memory store's dict, a changelog topic name, and ``create_batch`` / ``send_batch`` with
aiokafka's real ``BatchBuilder``; deliveries resolve when the test says so."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch

from streams.runtime.org_store import OrgStore
from streams.runtime.table_io import TableIO


class MemoryStore:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}


@dataclass
class Topic:
    name: str

    def get_topic_name(self) -> str:
        return self.name


class FakeTable:
    """A Faust table of bytes over the memory store."""

    def __init__(self, name: str) -> None:
        self.data = MemoryStore()
        self.changelog_topic = Topic(f"app-{name}-changelog")

    def get(self, key: bytes) -> bytes | None:
        return self.data.data.get(key)

    def items(self) -> Any:
        return list(self.data.data.items())


@dataclass
class Metadata:
    offset: int


@dataclass
class FakeProducer:
    """Records every submitted batch; ``auto`` resolves deliveries at once."""

    auto: bool = True
    submitted: list[tuple[str, int, list[tuple[bytes | None, bytes | None]]]] = field(
        default_factory=list
    )
    unresolved: list[tuple[asyncio.Future[Any], int]] = field(default_factory=list)
    ends: dict[tuple[str, int], int] = field(default_factory=dict)

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(1 << 20, 0, is_transactional=False)

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> Any:
        records = [(r.key, r.value) for r in DefaultRecordBatch(bytes(batch._build()))]
        self.submitted.append((topic, partition, records))
        base = self.ends.get((topic, partition), 0)
        self.ends[(topic, partition)] = base + len(records)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.auto:
            fut.set_result(Metadata(base))
        else:
            self.unresolved.append((fut, base))
        return fut

    def resolve_all(self) -> None:
        for fut, base in self.unresolved:
            fut.set_result(Metadata(base))
        self.unresolved.clear()


def new_store(home: Any = None) -> tuple[OrgStore, FakeTable, FakeTable]:
    orgs, clocks = FakeTable("orgs"), FakeTable("clocks")
    store = OrgStore(TableIO(orgs), TableIO(clocks), home or (lambda org: 0 if org < "m" else 1))
    return store, orgs, clocks


async def flush(store: OrgStore, producer: FakeProducer) -> None:
    """One flush as ``StateFlusher`` runs it, outputs aside."""
    snapshot = store.take_snapshot()
    await store.encode(snapshot)
    deliveries = await store.send(snapshot, producer)
    await asyncio.gather(*deliveries)
    store.write_local(snapshot)
