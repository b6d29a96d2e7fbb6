"""The worker's two Faust tables and the decoded org values kept in memory.

The only code that reads or writes the tables: ``orgs`` (org id -> ``OrgSlot``, plus each
org's sealed dedup chunks under ``chunk_key``) and ``clocks`` (partition ->
``PartitionClock``). A partition's roster (org -> first month, for the month-close sweep)
is rebuilt after an assignment by scanning ``orgs``: each value starts with its first month.

Write order per org, all to the org's changelog partition (a table write goes to the
partition of the record being processed, which is the org's home): new chunks, then the
value, then, once that value's changelog record is acknowledged, the deletes of the chunks
it no longer names. Why this keeps the dedup memory and the applied offsets consistent
through a crash: docs/architecture.md ("Tables").
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
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

SLOT_CACHE_ORGS = 20_000  # decoded org values kept in memory (bounded: 100k orgs <= 1 GB)


class OrgStore:
    def __init__(self, orgs: Any, clocks: Any, home: Callable[[str], int]) -> None:
        self.orgs = orgs
        self.clocks = clocks
        self.home = home
        self.cache: OrderedDict[str, OrgSlot] = OrderedDict()
        # partition -> (changelog send of a value, chunk keys that value stopped naming):
        # deleted by a later write of the partition, once the send is acknowledged.
        self.unreferenced: dict[int, list[tuple[Any, list[bytes]]]] = {}
        # Orgs whose named chunks this process has written to the changelog itself.
        self.chunks_resent: set[str] = set()

    def load(self, org: str) -> OrgSlot:
        slot = self.cache.get(org)
        if slot is not None:
            return slot
        raw = self.orgs.get(org.encode())
        if raw is None:
            return new_slot(org)
        return decode_slot(raw, lambda seq: self.orgs.get(chunk_key(org, seq)))

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

    def write(self, result: PassResult) -> None:
        """The values a pass changed (after its sends were handed to the producer)."""
        orgs = self.orgs
        self._delete_unreferenced(result.partition)
        for org, slot in result.org_values.items():
            if org not in self.chunks_resent:
                self._resend_named_chunks(org, slot)
            write = encode_slot(slot)
            for seq, chunk in write.dedup.sealed:
                orgs[chunk_key(org, seq)] = chunk
            orgs[org.encode()] = write.value
            if write.dedup.dropped:
                sent = getattr(orgs, "last_changelog", None)
                keys = [chunk_key(org, seq) for seq in write.dedup.dropped]
                self.unreferenced.setdefault(result.partition, []).append((sent, keys))
            self._cache(org, slot)
        if result.clock is not None:
            self.clocks[str(result.partition).encode()] = result.clock.to_json()

    def _resend_named_chunks(self, org: str, slot: OrgSlot) -> None:
        """Write again, once per process and org, the chunks its stored value names.

        The local store can hold writes that never reached the changelog: a SIGKILL loses
        the producer's buffer, while RocksDB already has them, and the records that made
        them are then skipped as applied. A value is rewritten whole by the org's next
        write, but a chunk is written once, so a chunk stranded that way would be missing
        from a store rebuilt from the changelog. Sending the named chunks again before the
        org's first new value closes that gap (one full copy per org and process)."""
        self.chunks_resent.add(org)
        log = slot.dedup_log
        orgs = self.orgs
        for seq in range(log.base, log.next):
            key = chunk_key(org, seq)
            chunk = orgs.get(key)
            if chunk is not None:
                orgs[key] = chunk

    def _delete_unreferenced(self, partition: int) -> None:
        """Delete the chunks of values that are durable now. Until then a crash can bring
        back an older value that still names them (the local store replays the changelog
        from its last persisted offset, over writes that never reached it)."""
        pending = self.unreferenced.get(partition)
        if not pending:
            return
        kept: list[tuple[Any, list[bytes]]] = []
        for sent, keys in pending:
            if sent is not None and not sent.done():
                kept.append((sent, keys))
                continue
            if sent is None or (not sent.cancelled() and sent.exception() is None):
                for key in keys:
                    self.orgs.pop(key, None)
            # A failed send: the chunks stay, unreferenced.
        self.unreferenced[partition] = kept

    def _cache(self, org: str, slot: OrgSlot) -> None:
        cache = self.cache
        cache[org] = slot
        cache.move_to_end(org)
        while len(cache) > SLOT_CACHE_ORGS:
            cache.popitem(last=False)

    def forget(self, partitions: set[int]) -> None:
        """Drop cached values of partitions whose tables are recovered anew or revoked, and
        their pending chunk deletes (another worker may own those chunks now; a few
        unreferenced chunks stay behind)."""
        for org in [o for o in self.cache if self.home(o) in partitions]:
            del self.cache[org]
        self.chunks_resent = {o for o in self.chunks_resent if self.home(o) not in partitions}
        for partition in partitions:
            self.unreferenced.pop(partition, None)
