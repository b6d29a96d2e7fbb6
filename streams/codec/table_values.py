"""The worker's table values and their bytes.

- ``OrgSlot`` is the value of one org in the ``orgs`` table: its scoring state plus what
  the streaming promise needs next to it in the same value (one changelog write covers
  both): the input offsets already applied (redelivery idempotency), the revisions emitted
  per month, and whether a live record is still owed.
- ``PartitionClock`` is the value of one partition in the ``clocks`` table: its watermark
  and the latest month whose monthly records were all emitted.
- The ``roster`` table maps an org to its first month (``encode_first_month``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from scoring.state import OrgState, state_from_dict, state_to_dict
from scoring.timeutil import latest_closed_month

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
    return OrgSlot(state=OrgState(org_id))


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


def encode_first_month(first_month: int | None) -> bytes:
    return orjson.dumps(first_month)


def decode_first_month(raw: bytes) -> int | None:
    value = orjson.loads(raw)
    if isinstance(value, list):  # early format: [first month, live owed]
        value = value[0]
    return None if value is None else int(value)
