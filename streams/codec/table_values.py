"""The worker's table values and their bytes.

- ``OrgSlot`` is the value of one org in the ``orgs`` table: its scoring state plus what
  the streaming promise needs next to it in the same value (one changelog write covers
  both): the input offsets already applied (redelivery idempotency), the revisions emitted
  per month, whether a live record is still owed, and where its dedup memory lives
  (``streams.codec.dedup_log``: sealed chunks under their own keys, the newest ids inline).
- ``PartitionClock`` is the value of one partition in the ``clocks`` table: its watermark
  and the latest month whose monthly records were all emitted.

An org value (format 2) is binary: ``0x02``, the org's first month (int32, little-endian;
``NO_MONTH`` before any event: read alone by ``first_month_of`` to rebuild a partition's
roster without decoding the org), the length of the dedup tail (uint16), the tail, then
JSON. Format 1 (JSON only, the dedup ids base64 inside) is still read, and rewritten as
format 2 by the org's next write.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from scoring.accumulators import WindowEvents
from scoring.state import OrgState, state_from_dict, state_to_dict
from scoring.timeutil import latest_closed_month, month_of
from streams.codec.dedup_log import DedupLog, DedupWrites, restore, sync

SLOT_VERSION = 2
LEGACY_SLOT_VERSION = 1
NO_MONTH = -(2**31)
_HEADER = struct.Struct("<BiH")

# Per signal: what its encoded accumulators depend on besides the accumulators themselves.
_SignalStamp = tuple[int | None, int | None, tuple[int, ...]]


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
    dedup_log: DedupLog = field(default_factory=DedupLog)
    # signal id -> (stamp, encoded accumulators): re-encoded only when the stamp moves.
    encoded_signals: dict[str, tuple[_SignalStamp, orjson.Fragment]] = field(
        default_factory=dict
    )


@dataclass(slots=True)
class SlotWrite:
    """The bytes of one org write: chunks to write before the value, chunks to delete once
    it is durable (``DedupWrites``) and the value."""

    value: bytes
    dedup: DedupWrites


def new_slot(org_id: str) -> OrgSlot:
    return OrgSlot(state=OrgState(org_id))


def encode_slot(slot: OrgSlot) -> SlotWrite:
    """The org's value and dedup chunks; advances ``slot.dedup_log`` (the caller writes)."""
    state = slot.state
    dedup = sync(slot.dedup_log, state.dedup)
    log = slot.dedup_log
    tail = bytes(log.tail)
    body = orjson.dumps(
        {
            "v": SLOT_VERSION,
            "state": state_to_dict(state, with_dedup=False, signals=_encoded_signals(slot)),
            "offsets": slot.offsets,
            "revisions": {str(month): rev for month, rev in slot.revisions.items()},
            "live_owed": slot.live_owed,
            "dedup": {"base": log.base, "next": log.next, "n": len(state.dedup)},
        }
    )
    first = state.first_month
    header = _HEADER.pack(SLOT_VERSION, NO_MONTH if first is None else first, len(tail))
    return SlotWrite(header + tail + body, dedup)


def _encoded_signals(slot: OrgSlot) -> dict[str, orjson.Fragment]:
    """Each signal's accumulators as JSON, reused while nothing they hold can have changed:
    the fold stamps every signal it updates with the event's seq (``state.touched``), a full
    prune moves ``pruned_month``, and the other prune only shortens the exact times of
    binary indicators (``WindowEvents.recent``)."""
    state = slot.state
    cache = slot.encoded_signals
    touched = state.touched
    pruned = state.pruned_month
    out: dict[str, orjson.Fragment] = {}
    for sid, accs in state.signals.items():
        stamp = (
            touched.get(sid),
            pruned,
            tuple([len(a.recent) for a in accs if type(a) is WindowEvents]),
        )
        cached = cache.get(sid)
        if cached is None or cached[0] != stamp:
            encoded = orjson.Fragment(orjson.dumps([a.to_dict() for a in accs]))
            cached = cache[sid] = (stamp, encoded)
        out[sid] = cached[1]
    if len(cache) > len(out):
        for sid in [s for s in cache if s not in out]:
            del cache[sid]
    return out


def decode_slot(raw: bytes, read_chunk: Callable[[int], bytes | None]) -> OrgSlot:
    """An org's value, its dedup memory read through ``read_chunk(seq)`` (format 2) or
    from its JSON (format 1). Raises ValueError for data it did not write."""
    if raw[:1] == b"{":
        return _decode_legacy(orjson.loads(raw))
    version, _first, tail_len = _HEADER.unpack_from(raw)
    if version != SLOT_VERSION:
        raise ValueError(f"unsupported org slot version {version!r}")
    start = _HEADER.size
    tail = raw[start : start + tail_len]
    data = orjson.loads(raw[start + tail_len :])
    meta = data["dedup"]
    log = DedupLog(base=int(meta["base"]), next=int(meta["next"]), tail=bytearray(tail))
    slot = _slot_from_data(data, log)
    chunks = [read_chunk(seq) for seq in range(log.base, log.next)]
    slot.state.dedup = restore(log, chunks, int(meta["n"]))
    return slot


def _decode_legacy(data: Any) -> OrgSlot:
    if not isinstance(data, dict) or data.get("v") != LEGACY_SLOT_VERSION:
        version = data.get("v") if isinstance(data, dict) else None
        raise ValueError(f"unsupported org slot version {version!r}")
    # Every id is new to the (empty) log: the next write moves them all out of the JSON.
    return _slot_from_data(data, DedupLog())


def _slot_from_data(data: dict[str, Any], log: DedupLog) -> OrgSlot:
    return OrgSlot(
        state=state_from_dict(data["state"]),
        offsets={str(k): int(v) for k, v in data["offsets"].items()},
        revisions={int(k): int(v) for k, v in data["revisions"].items()},
        live_owed=bool(data["live_owed"]),
        dedup_log=log,
    )


def first_month_of(raw: bytes) -> int | None:
    """The first month of an org value, without decoding it (format 1: decoded)."""
    if raw[:1] == b"{":
        first_ms = orjson.loads(raw)["state"]["first"]
        return None if first_ms is None else month_of(int(first_ms))
    _version, first, _tail_len = _HEADER.unpack_from(raw)
    return None if first == NO_MONTH else int(first)


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
