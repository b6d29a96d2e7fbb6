"""What the agent does with one input record, without Kafka (spec sections 3 and 10).

The agent (``streams.agents``) is the thin shell: it decodes, calls these functions, sends
what they return and writes the tables. Everything that decides *what* is emitted lives
here so unit tests can drive it with plain dicts:

- ``OrgSlot`` is the table value of one org: its scoring state plus what the streaming
  promise needs next to it in the same value (one changelog write covers both): the input
  offsets already applied (redelivery idempotency), the revisions emitted per month, and
  whether a live record is still owed.
- ``PartitionClock`` is the table value of one partition: its watermark and the latest
  month whose monthly records were all emitted.
- ``apply_org_record`` folds one record's events into an org, skipping a redelivered record.
- ``monthly_owed_after_apply`` lists the monthly records a late event or a newly seen org
  requires; ``months_to_close`` lists what the month-close sweep owes an org.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from scoring.catalog import Catalog
from scoring.events import Event
from scoring.fold import Outcome, apply_event
from scoring.state import OrgState, new_org_state, state_from_dict, state_to_dict
from scoring.timeutil import latest_closed_month, month_of

SLOT_VERSION = 1


@dataclass(slots=True)
class OrgSlot:
    """One org's table value."""

    state: OrgState
    # "topic:partition" of the input -> offset of the last record applied to this org.
    offsets: dict[str, int] = field(default_factory=dict)
    # month index -> revision last emitted, kept only once a month was re-emitted (> 0).
    revisions: dict[int, int] = field(default_factory=dict)
    # A live record was deferred by the emit interval and not yet produced.
    live_owed: bool = False


def new_slot(org_id: str) -> OrgSlot:
    return OrgSlot(state=new_org_state(org_id))


def encode_slot(slot: OrgSlot) -> bytes:
    return orjson.dumps(
        {
            "v": SLOT_VERSION,
            "state": state_to_dict(slot.state),
            "offsets": slot.offsets,
            "revisions": {str(month): rev for month, rev in slot.revisions.items()},
            "live_owed": slot.live_owed,
        }
    )


def decode_slot(raw: bytes) -> OrgSlot:
    data = orjson.loads(raw)
    if data.get("v") != SLOT_VERSION:
        raise ValueError(f"unsupported org slot version {data.get('v')!r}")
    return OrgSlot(
        state=state_from_dict(data["state"]),
        offsets={str(k): int(v) for k, v in data["offsets"].items()},
        revisions={int(k): int(v) for k, v in data["revisions"].items()},
        live_owed=bool(data["live_owed"]),
    )


@dataclass(slots=True)
class PartitionClock:
    """Watermark of one partition and the latest month it has fully closed."""

    watermark_ms: int | None = None
    closed_month: int | None = None

    def advance(self, time_ms: int) -> None:
        if self.watermark_ms is None or time_ms > self.watermark_ms:
            self.watermark_ms = time_ms

    def due_closed_month(self, grace_ms: int) -> int | None:
        """The latest month the watermark closes (may be ahead of ``closed_month``)."""
        if self.watermark_ms is None:
            return None
        return latest_closed_month(self.watermark_ms, grace_ms)

    def to_json(self) -> bytes:
        return orjson.dumps({"watermark_ms": self.watermark_ms, "closed_month": self.closed_month})

    @classmethod
    def from_json(cls, raw: bytes | None) -> PartitionClock:
        if not raw:
            return cls()
        data = orjson.loads(raw)
        return cls(watermark_ms=data["watermark_ms"], closed_month=data["closed_month"])


def source_key(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


@dataclass(slots=True)
class AppliedRecord:
    """What folding one record into an org did."""

    skipped: bool = False  # already applied before (redelivery): nothing changed
    accepted: int = 0
    duplicates: int = 0
    too_old: list[Event] = field(default_factory=list)
    accepted_types: list[str] = field(default_factory=list)
    max_accepted_ms: int | None = None
    min_accepted_month: int | None = None
    first_month_before: int | None = None


def apply_org_record(
    catalog: Catalog,
    slot: OrgSlot,
    source: str,
    offset: int,
    events: Sequence[Event],
    *,
    dedup_horizon_ms: int,
) -> AppliedRecord:
    """Fold the events of one input record (all of one org, ticks excluded) into ``slot``.

    A record at or below the offset already applied from ``source`` is a redelivery
    (a crash before the offset commit, a group reset): it is skipped, never applied twice
    (spec section 10). The events of one record are applied together, so one offset per
    input partition is enough.
    """
    result = AppliedRecord(first_month_before=slot.state.first_month)
    last_applied = slot.offsets.get(source)
    if last_applied is not None and offset <= last_applied:
        result.skipped = True
        return result
    for event in events:
        outcome = apply_event(catalog, slot.state, event, dedup_horizon_ms=dedup_horizon_ms)
        if outcome is Outcome.ACCEPTED:
            result.accepted += 1
            result.accepted_types.append(event.type)
            if result.max_accepted_ms is None or event.time_ms > result.max_accepted_ms:
                result.max_accepted_ms = event.time_ms
            month = month_of(event.time_ms)
            if result.min_accepted_month is None or month < result.min_accepted_month:
                result.min_accepted_month = month
        elif outcome is Outcome.DUPLICATE:
            result.duplicates += 1
        else:
            result.too_old.append(event)
    slot.offsets[source] = offset
    return result


def monthly_owed_after_apply(
    slot: OrgSlot, applied: AppliedRecord, closed_month: int | None
) -> list[tuple[int, int]]:
    """(month, revision) pairs a record's accepted events require (spec section 3).

    A late event (its month already closed) re-emits every closed month from its month to
    the latest closed one with revision + 1; months that had no record yet for this org
    (it was first seen late, or the event moved its first month earlier) get revision 0.
    Updates ``slot.revisions``.
    """
    first_month = slot.state.first_month
    if closed_month is None or applied.min_accepted_month is None or first_month is None:
        return []
    start = max(applied.min_accepted_month, first_month)
    if start > closed_month:
        return []
    emitted_from = applied.first_month_before
    owed: list[tuple[int, int]] = []
    for month in range(start, closed_month + 1):
        if emitted_from is not None and month >= emitted_from:
            revision = slot.revisions.get(month, 0) + 1
            slot.revisions[month] = revision
        else:
            revision = 0
        owed.append((month, revision))
    return owed


def months_to_close(
    slot: OrgSlot, closed_before: int | None, closed_now: int
) -> Iterable[tuple[int, int]]:
    """(month, revision) pairs the month-close sweep owes an org: the newly closed months
    from its first month on. A sweep redone after a crash emits the same revisions."""
    first_month = slot.state.first_month
    if first_month is None:
        return []
    start = first_month if closed_before is None else max(first_month, closed_before + 1)
    return [(month, slot.revisions.get(month, 0)) for month in range(start, closed_now + 1)]


def prune_revisions(slot: OrgSlot, oldest_kept_month: int) -> None:
    for month in [m for m in slot.revisions if m < oldest_kept_month]:
        del slot.revisions[month]


def record_bytes(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record)


class LiveThrottle:
    """At most one live record per org per interval (``CSS_LIVE_EMIT_INTERVAL_SECONDS``),
    and the latest state always emitted eventually: a record that comes too soon is
    deferred until its org's interval has passed. Time comes from ``clock`` (seconds), so
    tests drive it without sleeping."""

    def __init__(self, interval_s: float, clock: Callable[[], float]) -> None:
        self.interval_s = interval_s
        self.clock = clock
        self._last_emit: dict[str, float] = {}
        self._deferred: dict[int, dict[str, float]] = {}  # partition -> org -> due time

    def may_emit_now(self, org: str) -> bool:
        last = self._last_emit.get(org)
        return self.interval_s <= 0 or last is None or self.clock() - last >= self.interval_s

    def emitted(self, partition: int, org: str) -> None:
        self._last_emit[org] = self.clock()
        deferred = self._deferred.get(partition)
        if deferred is not None:
            deferred.pop(org, None)

    def defer(self, partition: int, org: str) -> None:
        due = self._last_emit.get(org, self.clock()) + self.interval_s
        self._deferred.setdefault(partition, {}).setdefault(org, due)

    def due(self, partition: int) -> list[str]:
        """Deferred orgs of ``partition`` whose interval has passed (oldest first)."""
        deferred = self._deferred.get(partition)
        if not deferred:
            return []
        now = self.clock()
        ready = [(due, org) for org, due in deferred.items() if due <= now]
        return [org for _, org in sorted(ready)]

    def partitions_with_due(self) -> list[int]:
        now = self.clock()
        return [
            partition
            for partition, deferred in self._deferred.items()
            if deferred and min(deferred.values()) <= now
        ]

    def forget(self, partition: int) -> None:
        self._deferred.pop(partition, None)
