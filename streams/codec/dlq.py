"""The dead-letter topic (default ``telemetry.dlq``): what a rejected item becomes.

Value: the rejected event (``Rejection.raw``: a batch element re-encoded, or the whole
record; for ``too_large`` its first 64 KiB). Headers say why and where it came from; they
never carry the payload, only the reason, a bounded detail and the input position.

``dlq_headers`` is pure so tests check it without a broker; ``DeadLetterWriter`` wraps an
aiokafka producer and lets every failure propagate: a DLQ write that fails must stop the
worker (no silent loss), never be logged and skipped.
"""

from __future__ import annotations

from typing import Any

from streams.codec.decoding import Rejection

DEFAULT_DLQ_TOPIC = "telemetry.dlq"
MAX_DETAIL_CHARS = 512

HEADER_REASON = "css.error.reason"
HEADER_DETAIL = "css.error.detail"
HEADER_TRUNCATED = "css.error.truncated"
HEADER_ORIGINAL_BYTES = "css.error.original_bytes"
HEADER_SOURCE_TOPIC = "css.source.topic"
HEADER_SOURCE_PARTITION = "css.source.partition"
HEADER_SOURCE_OFFSET = "css.source.offset"


def truncate_detail(detail: str) -> str:
    """The detail cut to MAX_DETAIL_CHARS characters (an ellipsis marks a cut)."""
    if len(detail) <= MAX_DETAIL_CHARS:
        return detail
    return detail[: MAX_DETAIL_CHARS - 1] + "…"


def dlq_headers(
    rejection: Rejection, topic: str, partition: int, offset: int, original_size: int
) -> list[tuple[str, bytes]]:
    """Kafka headers of the dead-letter record for ``rejection`` of the input record at
    (topic, partition, offset) whose value was ``original_size`` bytes."""
    headers = [
        (HEADER_REASON, rejection.reason.encode()),
        (HEADER_DETAIL, truncate_detail(rejection.detail).encode()),
        (HEADER_SOURCE_TOPIC, topic.encode()),
        (HEADER_SOURCE_PARTITION, str(partition).encode()),
        (HEADER_SOURCE_OFFSET, str(offset).encode()),
    ]
    # A too_large value is cut to its first 64 KiB (so no DLQ write nears the producer's
    # limit); say so, and how big the original was. (A batch of too many small events may
    # fit whole: then truncated is "false".)
    if rejection.reason == "too_large":
        truncated = len(rejection.raw) < original_size
        headers.append((HEADER_TRUNCATED, b"true" if truncated else b"false"))
        headers.append((HEADER_ORIGINAL_BYTES, str(original_size).encode()))
    return headers


class DeadLetterWriter:
    """Writes rejections to the dead-letter topic through a started aiokafka producer.

    ``write`` waits for the broker's acknowledgement; any failure raises (the caller stops
    the worker). The record key is the input record's key, so an org's rejects stay
    together.
    """

    def __init__(self, producer: Any, topic: str = DEFAULT_DLQ_TOPIC) -> None:
        self._producer = producer
        self.topic = topic
        self.written = 0

    async def write(
        self,
        rejection: Rejection,
        *,
        source_topic: str,
        partition: int,
        offset: int,
        original_size: int,
        key: bytes | None = None,
    ) -> None:
        """Dead-letter one decoder rejection."""
        headers = dlq_headers(rejection, source_topic, partition, offset, original_size)
        await self._send(rejection.raw, key, headers)

    async def write_reason(
        self,
        reason: str,
        detail: str,
        raw: bytes,
        *,
        source_topic: str,
        partition: int,
        offset: int,
        key: bytes | None = None,
    ) -> None:
        """Dead-letter an item rejected after decoding (e.g. ``too_old`` by the core)."""
        rejection = Rejection(reason, detail, None, raw)
        await self.write(
            rejection,
            source_topic=source_topic,
            partition=partition,
            offset=offset,
            original_size=len(raw),
            key=key,
        )

    async def _send(
        self, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        await self._producer.send_and_wait(self.topic, value=value, key=key, headers=headers)
        self.written += 1
