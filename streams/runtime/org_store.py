"""The worker's three Faust tables and the decoded org values kept in memory.

The only code that reads or writes the tables: ``orgs`` (org id -> ``OrgSlot``),
``roster`` (org id -> first month, scanned after an assignment to rebuild a partition's
roster for the month-close sweep) and ``clocks`` (partition -> ``PartitionClock``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from streams.codec.table_values import (
    OrgSlot,
    PartitionClock,
    decode_first_month,
    decode_slot,
    encode_first_month,
    encode_slot,
    new_slot,
)
from streams.pipeline.pass_result import PassResult

SLOT_CACHE_ORGS = 20_000  # decoded org values kept in memory (bounded: 100k orgs <= 1 GB)


class OrgStore:
    def __init__(self, orgs: Any, roster: Any, clocks: Any, home: Callable[[str], int]) -> None:
        self.orgs = orgs
        self.roster = roster
        self.clocks = clocks
        self.home = home
        self.cache: OrderedDict[str, OrgSlot] = OrderedDict()

    def load(self, org: str) -> OrgSlot:
        slot = self.cache.get(org)
        if slot is not None:
            return slot
        raw = self.orgs.get(org.encode())
        return new_slot(org) if raw is None else decode_slot(raw)

    def roster_of(self, partition: int) -> dict[str, int]:
        roster: dict[str, int] = {}
        for key, value in self.roster.items():
            org = key.decode()
            if self.home(org) != partition:
                continue
            first_month = decode_first_month(value)
            if first_month is not None:
                roster[org] = first_month
        return roster

    def clock_of(self, partition: int) -> PartitionClock:
        return PartitionClock.from_json(self.clocks.get(str(partition).encode()))

    def write(self, result: PassResult) -> None:
        """The values a pass changed (after its sends were handed to the producer)."""
        for org, slot in result.org_values.items():
            self.orgs[org.encode()] = encode_slot(slot)
            self._cache(org, slot)
        for org, first_month in result.roster.items():
            self.roster[org.encode()] = encode_first_month(first_month)
        if result.clock is not None:
            self.clocks[str(result.partition).encode()] = result.clock.to_json()

    def _cache(self, org: str, slot: OrgSlot) -> None:
        cache = self.cache
        cache[org] = slot
        cache.move_to_end(org)
        while len(cache) > SLOT_CACHE_ORGS:
            cache.popitem(last=False)

    def forget(self, partitions: set[int]) -> None:
        """Drop cached values of partitions whose tables are recovered anew or revoked."""
        for org in [o for o in self.cache if self.home(o) in partitions]:
            del self.cache[org]
