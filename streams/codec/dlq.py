"""The dead-letter topic (default ``telemetry.dlq``): what a rejected item becomes.

Value: the rejected event (``Rejection.raw``: a batch element re-encoded, or the whole
record; for ``too_large`` its first 64 KiB). Headers say why and where it came from; they
never carry the payload, only the reason, a bounded detail and the input position.

The key is the input record's key. A dead-letter write that fails stops the worker (no
silent loss): it is never logged and skipped.
"""

from __future__ import annotations

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
