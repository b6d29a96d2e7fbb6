"""Dead-letter records a scoring pass sends: the rejection, its reason headers and the
input position of the record that carried it (docs/scoring-rules.md section 7)."""

from __future__ import annotations

import orjson

from scoring.events import Event
from scoring.fold import TOO_OLD_MONTHS
from streams.codec.decoding import Rejection
from streams.codec.dlq import dlq_headers
from streams.codec.internal import Source, event_payload
from streams.pipeline.pass_result import Outgoing


def too_old_rejection(event: Event) -> Rejection:
    """An accepted-looking event whose month is too far behind its org's latest."""
    return Rejection(
        reason="too_old",
        detail=f"$.time: month is more than {TOO_OLD_MONTHS} months before the org's"
        " latest event",
        index=None,
        raw=orjson.dumps(event_payload(event)),
    )


def dead_letter(
    topic: str,
    rejection: Rejection,
    source: Source,
    offset: int,
    original_size: int,
    key: bytes | None,
) -> Outgoing:
    headers = dlq_headers(rejection, source.topic, source.partition, offset, original_size)
    return Outgoing(topic, key, rejection.raw, None, headers)
