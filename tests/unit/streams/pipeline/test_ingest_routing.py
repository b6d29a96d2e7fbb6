"""The ingest stage's routing, without Kafka: input records forwarded as they came, in
raw batches to the same partition; only oversized records are rejected here."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
from hypothesis import given
from hypothesis import strategies as st

from scoring.timeutil import parse_time_ms
from streams.codec.decoding import MAX_RECORD_BYTES, TOO_LARGE_KEEP_BYTES
from streams.codec.internal import (
    MAX_INTERNAL_BYTES,
    MAX_INTERNAL_EVENTS,
    RawBatchBody,
    RawRecord,
    Source,
    decode_internal,
    encode_raw_batch,
)
from streams.pipeline.ingest_routing import route_records

NOW_MS = parse_time_ms("2026-01-01T00:00:00Z")


@dataclass
class FakeMessage:
    offset: int
    value: bytes | None
    key: bytes | None = None
    timestamp: int = 1_700_000_000_000
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def event(org: str, n: int, kind: str = "case.created") -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": f"{org}-{n}",
            "source": "test",
            "type": kind,
            "subject": org,
            "time": "2025-06-01T00:00:00Z",
            "data": {"product": "service_cloud"},
        }
    )


def test_records_are_forwarded_as_they_came_poison_included() -> None:
    messages = [
        FakeMessage(7, event("org-1", 1), key=b"org-1", headers=[("ce_id", b"x")]),
        FakeMessage(8, b"{not json", key=b"org-2"),
        FakeMessage(9, None),
    ]
    routed = route_records(Source("telemetry", 2), messages, NOW_MS)
    assert routed.dead_letters == [] and routed.records == 3
    [batch] = routed.batches
    body = decode_internal(batch.encode())
    assert isinstance(body, RawBatchBody) and body.source == "telemetry:2"
    assert body.records == [
        RawRecord(7, 1_700_000_000_000, b"org-1", event("org-1", 1), (("ce_id", b"x"),)),
        RawRecord(8, 1_700_000_000_000, b"org-2", b"{not json"),
        RawRecord(9, 1_700_000_000_000, None, b""),
    ]


def test_an_oversized_record_is_rejected_here_with_its_position() -> None:
    big = b"[" + b" " * MAX_RECORD_BYTES + b"]"
    messages = [FakeMessage(3, event("o", 1)), FakeMessage(4, big, key=b"o")]
    routed = route_records(Source("telemetry", 0), messages, NOW_MS)
    [(key, value, headers)] = routed.dead_letters
    assert key == b"o" and value == big[:TOO_LARGE_KEEP_BYTES]
    assert dict(headers)["css.error.reason"] == b"too_large"
    assert dict(headers)["css.source.offset"] == b"4"
    assert routed.rejected == {"too_large": 1}
    assert [r.offset for b in routed.batches for r in b.records] == [3]


def test_raw_batches_are_split_when_full() -> None:
    small = [FakeMessage(i, b"{}") for i in range(MAX_INTERNAL_EVENTS + 5)]
    routed = route_records(Source("telemetry", 0), small, NOW_MS)
    assert [len(b.records) for b in routed.batches] == [MAX_INTERNAL_EVENTS, 5]
    large = [FakeMessage(i, b"x" * 100_000) for i in range(12)]
    batches = route_records(Source("telemetry", 0), large, NOW_MS).batches
    assert len(batches) > 1 and all(
        len(b.encode()) <= MAX_INTERNAL_BYTES + 100_100 for b in batches
    )
    assert [r.offset for b in batches for r in b.records] == list(range(12))


raw_records = st.builds(
    RawRecord,
    st.integers(0, 2**62),
    st.integers(0, 2**62),
    st.one_of(st.none(), st.binary(max_size=40)),
    st.binary(max_size=200),
    st.lists(st.tuples(st.text(max_size=20), st.binary(max_size=30)), max_size=3).map(tuple),
)


@given(st.text(max_size=30), st.lists(raw_records, max_size=20))
def test_raw_batches_round_trip(source: str, records: list[RawRecord]) -> None:
    body = decode_internal(encode_raw_batch(source, records))
    assert body == RawBatchBody("raw", source, records)
