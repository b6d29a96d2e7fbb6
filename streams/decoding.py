"""Record bytes -> validated events, or rejections with a reason code (spec sections 7, 9).

INTERFACE STUB (owned by the event-contracts work): the signatures below are the contract
the offline scorer and the agents code against.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scoring.events import Event

MAX_RECORD_BYTES = 1024 * 1024
MAX_BATCH_EVENTS = 10_000

REASONS = (
    "invalid_json",
    "schema_violation",
    "unknown_type",
    "too_large",
    "future_timestamp",
    "too_old",
)


@dataclass(frozen=True, slots=True)
class Rejection:
    """One dead-lettered item: a whole record (index None) or one element of a batch."""

    reason: str
    detail: str  # never contains the payload; for schema_violation starts with a JSON path
    index: int | None  # element index within a batch record, None for the whole record
    raw: bytes  # what goes to the DLQ as value: the element re-encoded, or the record


@dataclass(slots=True)
class DecodedRecord:
    """Valid events in record order, each with its index within the record."""

    events: list[tuple[int, Event]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


def decode_record(value: bytes, now_ms: int) -> DecodedRecord:
    """Decode one Kafka record value or one input line (stateless; too_old is checked by
    the scoring core where the org's state lives)."""
    raise NotImplementedError
