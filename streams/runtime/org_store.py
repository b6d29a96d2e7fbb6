"""The worker's two Faust tables, the decoded org values kept in memory, and what a flush
writes.

The only code that reads or writes the tables: ``orgs`` (org id -> ``OrgSlot``, plus each
org's sealed dedup chunks under ``chunk_key``) and ``clocks`` (partition ->
``PartitionClock``). A partition's roster (org -> first month, for the month-close sweep)
is rebuilt after an assignment by scanning ``orgs``: each value starts with its first month.

A pass does not write the tables: ``note`` keeps the values it changed (dirty, pinned in
memory) until the next flush (``streams.runtime.state_flush``). A flush takes them all at
once (``take_snapshot``), encodes them in slices so the event loop keeps running
(``encode``), sends them to the changelog topics (``send``) and, once the broker has
acknowledged them, writes the local stores (``write_local``). A pass that changes an org
the running flush has not encoded yet encodes it first (copy on write), so a flush writes
every value exactly as it was when the flush began.

Write order per org, all to the org's changelog partition: new chunks, then the value;
the deletes of the chunks a value stopped naming go with the next flush, once that value
is durable. Why this keeps the dedup memory and the applied offsets consistent through a
crash: docs/architecture.md ("Tables").
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streams.codec.dedup_log import chunk_key, is_chunk_key
from streams.codec.table_values import (
    OrgSlot,
    PartitionClock,
    decode_slot,
    encode_slot,
    first_month_of,
    new_slot,
)
from streams.pipeline.pass_result import PassResult
from streams.runtime.table_io import SentBatch, TableIO, Write, last_offset

SLOT_CACHE_ORGS = 20_000  # clean decoded org values kept in memory (100k orgs <= 1 GB)
ENCODE_SLICE_SECONDS = 0.002  # a flush yields to the event loop this often while encoding


@dataclass(slots=True)
class FlushSnapshot:
    """What one flush writes: every org value and clock changed since the previous flush,
    as they were when it began."""

    slots: dict[str, OrgSlot]
    pending: list[str]  # orgs not encoded yet
    org_writes: dict[int, list[Write]] = field(default_factory=dict)  # per partition
    clock_writes: dict[int, list[Write]] = field(default_factory=dict)
    dropped: dict[int, list[bytes]] = field(default_factory=dict)  # chunks to delete next
    encoded: set[str] = field(default_factory=set)
    sent: list[tuple[TableIO, SentBatch]] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.slots or self.org_writes or self.clock_writes)


class OrgStore:
    def __init__(self, orgs: TableIO, clocks: TableIO, home: Callable[[str], int]) -> None:
        self.orgs = orgs
        self.clocks = clocks
        self.home = home
        self.cache: OrderedDict[str, OrgSlot] = OrderedDict()  # clean values (LRU)
        self.dirty: dict[str, OrgSlot] = {}  # changed since the last snapshot: pinned
        self.dirty_clocks: dict[int, bytes] = {}
        self.flushing: FlushSnapshot | None = None
        # partition -> chunk keys that durable values no longer name: deleted next flush.
        self.unreferenced: dict[int, list[bytes]] = {}
        # Orgs whose named chunks this process has written to the changelog itself.
        self.chunks_resent: set[str] = set()

    # --- reads ---------------------------------------------------------------------------------

    def load(self, org: str) -> OrgSlot:
        """The org's current value, for a pass that may change it."""
        slot = self.dirty.get(org)
        if slot is not None:
            return slot
        flushing = self.flushing
        if flushing is not None and org in flushing.slots:
            if org not in flushing.encoded:
                self._encode(flushing, org)  # copy on write: the flush keeps these bytes
            return flushing.slots[org]
        slot = self.cache.get(org)
        if slot is not None:
            return slot
        raw = self.orgs.get(org.encode())
        if raw is None:
            return new_slot(org)
        slot = decode_slot(raw, lambda seq: self.orgs.get(chunk_key(org, seq)))
        self._cache(org, slot)
        return slot

    def roster_of(self, partition: int) -> dict[str, int]:
        roster: dict[str, int] = {}
        for key, value in self.orgs.items():
            if is_chunk_key(key):
                continue
            org = key.decode()
            if self.home(org) != partition:
                continue
            first_month = first_month_of(value)
            if first_month is not None:
                roster[org] = first_month
        return roster

    def clock_of(self, partition: int) -> PartitionClock:
        return PartitionClock.from_json(self.clocks.get(str(partition).encode()))

    # --- a pass's changes ----------------------------------------------------------------------

    def note(self, result: PassResult) -> None:
        """The values a pass changed: kept (pinned) until a flush writes them."""
        dirty = self.dirty
        cache = self.cache
        for org, slot in result.org_values.items():
            dirty[org] = slot
            cache.pop(org, None)
        if result.clock is not None:
            self.dirty_clocks[result.partition] = result.clock.to_json()

    def dirty_count(self) -> int:
        return len(self.dirty)

    # --- a flush -------------------------------------------------------------------------------

    def take_snapshot(self) -> FlushSnapshot:
        """Everything changed since the previous snapshot (synchronous: no pass runs)."""
        snapshot = FlushSnapshot(slots=self.dirty, pending=list(self.dirty))
        for partition, keys in self.unreferenced.items():
            snapshot.org_writes[partition] = [(key, None) for key in keys]
        for partition, clock in self.dirty_clocks.items():
            snapshot.clock_writes[partition] = [(str(partition).encode(), clock)]
        self.dirty = {}
        self.dirty_clocks = {}
        self.unreferenced = {}
        self.flushing = snapshot
        return snapshot

    async def encode(self, snapshot: FlushSnapshot) -> None:
        """Encode the snapshot's values, yielding to the event loop every few ms."""
        clock = time.perf_counter
        deadline = clock() + ENCODE_SLICE_SECONDS
        for org in snapshot.pending:
            if org not in snapshot.encoded:
                self._encode(snapshot, org)
                if clock() >= deadline:
                    await asyncio.sleep(0)
                    deadline = clock() + ENCODE_SLICE_SECONDS
        snapshot.pending = []

    async def send(self, snapshot: FlushSnapshot, producer: Any) -> list[asyncio.Future[Any]]:
        """Hand the snapshot's writes to the producer: one batch (or a few) per changelog
        partition; the deliveries to await before ``write_local``."""
        tables = ((self.orgs, snapshot.org_writes), (self.clocks, snapshot.clock_writes))
        for table, writes_of in tables:
            for partition, writes in writes_of.items():
                if writes:
                    for batch in await table.send(producer, partition, writes):
                        snapshot.sent.append((table, batch))
        return [batch.delivery for _, batch in snapshot.sent]

    def write_local(self, snapshot: FlushSnapshot) -> None:
        """After every delivery of ``send`` succeeded: the local stores, each partition in
        one batch with the changelog offset it reached; the values become clean."""
        reached: dict[tuple[int, int], int] = {}
        tables: dict[int, TableIO] = {}
        for table, batch in snapshot.sent:
            where = (id(table), batch.partition)
            tables[id(table)] = table
            reached[where] = max(reached.get(where, -1), last_offset(batch))
        for (table_id, partition), offset in reached.items():
            table = tables[table_id]
            writes_of = snapshot.org_writes if table is self.orgs else snapshot.clock_writes
            table.write_local(partition, writes_of[partition], offset)
        for partition, keys in snapshot.dropped.items():
            self.unreferenced.setdefault(partition, []).extend(keys)
        for org, slot in snapshot.slots.items():
            if org not in self.dirty:
                self._cache(org, slot)
        self.flushing = None

    def _encode(self, snapshot: FlushSnapshot, org: str) -> None:
        slot = snapshot.slots[org]
        partition = self.home(org)
        writes = snapshot.org_writes.setdefault(partition, [])
        if org not in self.chunks_resent:
            self._resend_named_chunks(org, slot, writes)
        write = encode_slot(slot)
        for seq, chunk in write.dedup.sealed:
            writes.append((chunk_key(org, seq), chunk))
        writes.append((org.encode(), write.value))
        if write.dedup.dropped:
            dropped = snapshot.dropped.setdefault(partition, [])
            dropped.extend(chunk_key(org, seq) for seq in write.dedup.dropped)
        snapshot.encoded.add(org)

    def _resend_named_chunks(self, org: str, slot: OrgSlot, writes: list[Write]) -> None:
        """Write again, once per process and org, the chunks its stored value names.

        A store written by an earlier version of the worker can hold writes that never
        reached the changelog (a SIGKILL lost the producer's buffer while RocksDB already
        had them; this version writes the store only after the changelog acknowledged).
        A value is rewritten whole by the org's next write, but a chunk is written once, so
        a chunk stranded that way would be missing from a store rebuilt from the changelog.
        Sending the named chunks again with the org's first new value closes that gap."""
        self.chunks_resent.add(org)
        log = slot.dedup_log
        for seq in range(log.base, log.next):
            key = chunk_key(org, seq)
            chunk = self.orgs.get(key)
            if chunk is not None:
                writes.append((key, chunk))

    def _cache(self, org: str, slot: OrgSlot) -> None:
        cache = self.cache
        cache[org] = slot
        cache.move_to_end(org)
        while len(cache) > SLOT_CACHE_ORGS:
            cache.popitem(last=False)

    def forget(self, partitions: set[int]) -> None:
        """Drop the values of partitions whose tables are recovered anew or revoked (the
        next owner re-reads what was not flushed), and their pending chunk deletes (a few
        unreferenced chunks stay behind)."""
        home = self.home
        for org in [o for o in self.cache if home(o) in partitions]:
            del self.cache[org]
        for org in [o for o in self.dirty if home(o) in partitions]:
            del self.dirty[org]
        for partition in partitions:
            self.dirty_clocks.pop(partition, None)
            self.unreferenced.pop(partition, None)
        self.chunks_resent = {o for o in self.chunks_resent if home(o) not in partitions}
