"""What the ingest stage does with one poll of one input partition, without Kafka.

Input records are forwarded as they came (value, key, headers, position and timestamp) in
raw batches (``streams.codec.internal``) to the internal partition equal to their input
partition: the ingest stage neither decodes nor re-encodes events; the scoring pass
decodes each record once. The one exception is a record over the decoder's size limit:
its ``too_large`` rejection is decided here (by the same decoder, from the size alone),
so an oversized record never travels inside an internal record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from streams.codec.decoding import MAX_RECORD_BYTES, decode_record
from streams.codec.dlq import dlq_headers
from streams.codec.internal import RawBatchBuilder, RawRecord, Source


class InputMessage(Protocol):
    """The parts of a consumed record the routing reads (aiokafka's ConsumerRecord)."""

    @property
    def offset(self) -> int: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...

    @property
    def timestamp(self) -> int | None: ...

    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


@dataclass(slots=True)
class RoutedPoll:
    """What one poll of one input partition produces."""

    batches: list[RawBatchBuilder] = field(default_factory=list)
    # (key, value, headers): the key is the input record's key
    dead_letters: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]] = field(
        default_factory=list
    )
    rejected: Counter[str] = field(default_factory=Counter)  # reason -> items
    records: int = 0


def route_records(source: Source, messages: Sequence[InputMessage], now_ms: int) -> RoutedPoll:
    """Raw batches of one input partition's messages (and the oversized ones rejected)."""
    routed = RoutedPoll()
    batch: RawBatchBuilder | None = None
    source_key = source.key()
    for message in messages:
        routed.records += 1
        value: bytes = message.value or b""
        if len(value) > MAX_RECORD_BYTES:
            for rejection in decode_record(value, now_ms).rejections:
                headers = dlq_headers(
                    rejection, source.topic, source.partition, message.offset, len(value)
                )
                routed.dead_letters.append((message.key, rejection.raw, headers))
                routed.rejected[rejection.reason] += 1
            continue
        if batch is None or batch.full():
            batch = RawBatchBuilder(source_key)
            routed.batches.append(batch)
        headers_in = tuple((name, bytes(header)) for name, header in message.headers or ())
        batch.add(RawRecord(message.offset, message.timestamp or 0, message.key, value, headers_in))
    return routed
