"""What the ingest stage does with one poll of one input partition, without Kafka.

Each input record is decoded with the stateless decoder; rejected items become
dead-letter records (value and reason headers); valid events are grouped by the partition
of their org (``partition_of``, Kafka's default partitioner in the runtime) into internal
batch records, so mis-keyed input is re-keyed on the way. ``clock.tick`` events stay in
their own partition.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from streams.codec.dlq import dlq_headers
from streams.codec.fast_decode import decode_record
from streams.codec.internal import InternalBatch, Source, event_row


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


@dataclass(slots=True)
class RoutedPoll:
    """What one poll of one input partition produces."""

    batches: list[InternalBatch] = field(default_factory=list)
    # (key, value, headers): the key is the input record's key
    dead_letters: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]] = field(
        default_factory=list
    )
    rejected: Counter[str] = field(default_factory=Counter)  # reason -> items
    records: int = 0


def route_records(
    source: Source,
    messages: Sequence[InputMessage],
    partition_of: Callable[[str], int],
    now_ms: int,
) -> RoutedPoll:
    """Decode and route one input partition's messages."""
    routed = RoutedPoll()
    source_key = source.key()
    open_batches: dict[int, InternalBatch] = {}
    for message in messages:
        value: bytes = message.value or b""
        decoded = decode_record(value, now_ms)
        for rejection in decoded.rejections:
            headers = dlq_headers(
                rejection, source.topic, source.partition, message.offset, len(value)
            )
            routed.dead_letters.append((message.key, rejection.raw, headers))
            routed.rejected[rejection.reason] += 1
        by_target: dict[int, list[list[Any]]] = {}
        for _, event in decoded.events:
            target = source.partition if event.is_tick else partition_of(event.subject)
            by_target.setdefault(target, []).append(event_row(event))
        timestamp = (message.timestamp or 0) / 1000
        for target, rows in by_target.items():
            batch = open_batches.get(target)
            if batch is None or batch.full():
                batch = open_batches[target] = InternalBatch(source_key, target)
                routed.batches.append(batch)
            batch.add(message.offset, timestamp, rows, len(value))
        routed.records += 1
    return routed
