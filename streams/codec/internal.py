"""The internal topics' record format (``{app_id}-events`` and ``{app_id}-control``).

The ingest stage forwards input records to ``{app_id}-events`` as they came, without
decoding them: one *raw batch* per input partition per poll (split when full), at the
internal partition equal to the input partition. A raw batch is binary (``RAW_MAGIC``,
then the source and each record's offset, timestamp, key, value and headers, see
``encode_raw_batch``); the scoring pass decodes each record once.

Records of the JSON *batch* kind (validated events, written by earlier versions of the
ingest stage) are still read::

    {"kind": "batch", "source": "telemetry:3",
     "records": [[offset, input_timestamp_s, [event_row, ...]], ...]}

The control topic carries:

- ``{"kind": "advance", "time_ms": T}``: move a quiet partition's watermark to T;
- ``{"kind": "wake"}``: nothing to apply; the pass flushes what it owes (deferred live
  records, live records a crashed worker still owed);
- ``{"kind": "events", "source": S, "offset": N, "events": [CloudEvent, ...]}``: events
  re-keyed to their org's partition by a pass that received them on another one.

``source`` is the input position's ``"topic:partition"``: the key of the per-org applied
offsets (see ``table_values.OrgSlot``).
"""

from __future__ import annotations

import struct
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


# --- raw batches ------------------------------------------------------------------------------

RAW_MAGIC = b"CSR1"
_HEAD = struct.Struct(">4sHI")  # magic, source length, record count
_RECORD = struct.Struct(">qqiIH")  # offset, timestamp ms, key length (-1: none), value length,
# header count
_HEADER = struct.Struct(">HI")  # header name length, header value length
RAW_RECORD_OVERHEAD = _RECORD.size


class RawRecord(NamedTuple):
    """One input record as it came: its position, timestamp, key, value and headers."""

    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


class RawBatchBody(NamedTuple):
    kind: Literal["raw"]
    source: str
    records: list[RawRecord]


def encode_raw_batch(source: str, records: list[RawRecord]) -> bytes:
    source_bytes = source.encode()
    parts = [_HEAD.pack(RAW_MAGIC, len(source_bytes), len(records)), source_bytes]
    for record in records:
        key_length = -1 if record.key is None else len(record.key)
        parts.append(
            _RECORD.pack(
                record.offset,
                record.timestamp_ms,
                key_length,
                len(record.value),
                len(record.headers),
            )
        )
        if record.key is not None:
            parts.append(record.key)
        parts.append(record.value)
        for name, header_value in record.headers:
            name_bytes = name.encode()
            parts.append(_HEADER.pack(len(name_bytes), len(header_value)))
            parts.append(name_bytes)
            parts.append(header_value)
    return b"".join(parts)


def decode_raw_batch(value: bytes) -> RawBatchBody:
    try:
        magic, source_length, count = _HEAD.unpack_from(value, 0)
        position = _HEAD.size
        source = value[position : position + source_length].decode()
        position += source_length
        records: list[RawRecord] = []
        for _ in range(count):
            offset, timestamp_ms, key_length, value_length, header_count = _RECORD.unpack_from(
                value, position
            )
            position += _RECORD.size
            key = None
            if key_length >= 0:
                key = value[position : position + key_length]
                position += key_length
            record_value = value[position : position + value_length]
            position += value_length
            headers: list[tuple[str, bytes]] = []
            for _ in range(header_count):
                name_length, header_length = _HEADER.unpack_from(value, position)
                position += _HEADER.size
                name = value[position : position + name_length].decode()
                position += name_length
                headers.append((name, value[position : position + header_length]))
                position += header_length
            records.append(RawRecord(offset, timestamp_ms, key, record_value, tuple(headers)))
    except (struct.error, UnicodeDecodeError) as exc:
        raise InvalidInternalRecord(f"malformed raw batch: {exc}") from None
    if magic != RAW_MAGIC or position != len(value):
        raise InvalidInternalRecord("malformed raw batch: bad magic or trailing bytes")
    return RawBatchBody("raw", source, records)


@dataclass(slots=True)
class RawBatchBuilder:
    """Input records of one input partition, collected for one raw batch."""

    source: str
    records: list[RawRecord] = field(default_factory=list)
    size: int = 0

    def add(self, record: RawRecord) -> None:
        self.records.append(record)
        self.size += RAW_RECORD_OVERHEAD + len(record.value) + len(record.key or b"")
        self.size += sum(len(name) + len(value) + _HEADER.size for name, value in record.headers)

    def full(self) -> bool:
        return len(self.records) >= MAX_INTERNAL_EVENTS or self.size >= MAX_INTERNAL_BYTES

    def encode(self) -> bytes:
        return encode_raw_batch(self.source, self.records)


# --- JSON records ------------------------------------------------------------------------------


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


InternalBody = RawBatchBody | BatchBody | AdvanceBody | RekeyedBody | WakeBody


class InvalidInternalRecord(ValueError):
    """An internal-topic record this version cannot read (a bug or a foreign writer)."""


def decode_internal(value: bytes) -> InternalBody:
    if value[:4] == RAW_MAGIC:
        return decode_raw_batch(value)
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
