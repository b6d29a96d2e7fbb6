"""The internal topics' record format (``{app_id}-events`` and ``{app_id}-control``).

The ingest stage writes validated events to ``{app_id}-events`` as *batch* records, one
per (input partition, org partition) per poll::

    {"kind": "batch", "source": "telemetry:3",
     "records": [[offset, input_timestamp_s, [event_row, ...]], ...]}

An ``event_row`` is the compact form of a validated event (no second validation on the
way in). The control topic carries:

- ``{"kind": "advance", "time_ms": T}``: move a quiet partition's watermark to T;
- ``{"kind": "wake"}``: nothing to apply; the pass flushes what it owes (deferred live
  records, live records a crashed worker still owed);
- ``{"kind": "events", "source": S, "offset": N, "events": [CloudEvent, ...]}``: events
  re-keyed to their org's partition by a pass that received them on another one.

``source`` is the input position's ``"topic:partition"``: the key of the per-org applied
offsets (see ``table_values.OrgSlot``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal, NamedTuple

import orjson

from scoring.events import Event
from scoring.timeutil import format_time_ms

MAX_INTERNAL_EVENTS = 5_000
MAX_INTERNAL_BYTES = 512 * 1024

WAKE = b'{"kind":"wake"}'


class Source(NamedTuple):
    """An input partition: where a record came from."""

    topic: str
    partition: int

    def key(self) -> str:
        """The ``"topic:partition"`` form stored in records and org values."""
        return f"{self.topic}:{self.partition}"

    @classmethod
    def parse(cls, key: str) -> Source:
        topic, _, partition = key.rpartition(":")
        return cls(topic, int(partition))


def event_row(event: Event) -> list[Any]:
    """Compact form of a validated event inside an internal record."""
    return [event.type, event.subject, event.source, event.id, event.time_ms, dict(event.data)]


def event_from_row(row: list[Any]) -> Event:
    event_type, subject, source, event_id, time_ms, data = row
    return Event(event_type, subject, source, event_id, time_ms, data)


def event_payload(event: Event) -> dict[str, Any]:
    """An event as a CloudEvents JSON object (for re-keying and the DLQ)."""
    data = {
        key: float(value) if isinstance(value, Fraction) else value
        for key, value in event.data.items()
    }
    return {
        "specversion": "1.0",
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "subject": event.subject,
        "time": format_time_ms(event.time_ms),
        "data": data,
    }


@dataclass(slots=True)
class InternalBatch:
    """Records of one input partition bound for one internal partition."""

    source: str
    target: int
    records: list[list[Any]] = field(default_factory=list)  # [offset, timestamp_s, rows]
    events: int = 0
    size: int = 0

    def add(self, offset: int, timestamp: float, rows: list[list[Any]], size: int) -> None:
        self.records.append([offset, timestamp, rows])
        self.events += len(rows)
        self.size += size

    def full(self) -> bool:
        return self.events >= MAX_INTERNAL_EVENTS or self.size >= MAX_INTERNAL_BYTES

    def encode(self) -> bytes:
        return orjson.dumps({"kind": "batch", "source": self.source, "records": self.records})


def encode_advance(time_ms: int) -> bytes:
    return orjson.dumps({"kind": "advance", "time_ms": time_ms})


def encode_rekeyed(source: str, offset: int, events: list[Event]) -> bytes:
    return orjson.dumps(
        {
            "kind": "events",
            "source": source,
            "offset": offset,
            "events": [event_payload(event) for event in events],
        }
    )


class InputRecord(NamedTuple):
    """One input record inside a batch: its offset, input timestamp and events."""

    offset: int
    timestamp_s: float
    events: list[Event]


class BatchBody(NamedTuple):
    kind: Literal["batch"]
    source: str
    records: list[InputRecord]


class AdvanceBody(NamedTuple):
    kind: Literal["advance"]
    time_ms: int


class RekeyedBody(NamedTuple):
    """Events as CloudEvents JSON (``payload``): the pass validates them again."""

    kind: Literal["events"]
    source: str
    offset: int
    payload: bytes


class WakeBody(NamedTuple):
    kind: Literal["wake"]


InternalBody = BatchBody | AdvanceBody | RekeyedBody | WakeBody


class InvalidInternalRecord(ValueError):
    """An internal-topic record this version cannot read (a bug or a foreign writer)."""


def decode_internal(value: bytes) -> InternalBody:
    body = orjson.loads(value)
    kind = body.get("kind") if isinstance(body, dict) else None
    if kind == "batch":
        records = [
            InputRecord(int(offset), float(timestamp), [event_from_row(row) for row in rows])
            for offset, timestamp, rows in body["records"]
        ]
        return BatchBody("batch", str(body["source"]), records)
    if kind == "advance":
        return AdvanceBody("advance", int(body["time_ms"]))
    if kind == "events":
        payload = orjson.dumps(body["events"])
        return RekeyedBody("events", str(body["source"]), int(body["offset"]), payload)
    if kind == "wake":
        return WakeBody("wake")
    raise InvalidInternalRecord(f"unknown internal record kind {kind!r}")
