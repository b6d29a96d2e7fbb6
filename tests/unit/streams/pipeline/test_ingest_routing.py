"""The ingest stage's routing, without Kafka: decode, dead-letter, batch per org partition."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson

from scoring.timeutil import parse_time_ms
from streams.codec.internal import MAX_INTERNAL_EVENTS, Source, event_from_row, event_row
from streams.pipeline.ingest_routing import route_records
from streams.runtime.routing import partition_for_key

NOW_MS = parse_time_ms("2026-01-01T00:00:00Z")


def home(partitions: int) -> Callable[[str], int]:
    return lambda org: partition_for_key(org, partitions)


@dataclass
class FakeMessage:
    offset: int
    value: bytes | None
    key: bytes | None = None
    timestamp: int = 1_700_000_000_000


def event(org: str, n: int, kind: str = "case.created") -> dict[str, object]:
    return {
        "specversion": "1.0",
        "id": f"{org}-{n}",
        "source": "test",
        "type": kind,
        "subject": org,
        "time": "2025-06-01T00:00:00Z",
        "data": {"product": "service_cloud"},
    }


def test_events_go_to_their_org_partition_and_ticks_stay() -> None:
    orgs = [f"org-{i}" for i in range(12)]
    messages = [FakeMessage(i, orjson.dumps(event(org, i))) for i, org in enumerate(orgs)]
    tick = {**event("clock", 99, "clock.tick"), "data": {}}
    messages.append(FakeMessage(50, orjson.dumps(tick)))
    routed = route_records(Source("telemetry", 2), messages, home(4), NOW_MS)
    assert routed.dead_letters == []
    seen: dict[int, list[int]] = {}
    for batch in routed.batches:
        assert batch.source == "telemetry:2"
        for offset, _timestamp, rows in batch.records:
            for row in rows:
                decoded = event_from_row(row)
                expected = 2 if decoded.is_tick else partition_for_key(decoded.subject, 4)
                assert batch.target == expected
            seen.setdefault(batch.target, []).append(offset)
    assert sorted(o for offsets in seen.values() for o in offsets) == [*range(12), 50]
    for offsets in seen.values():  # input order kept within each target
        assert offsets == sorted(offsets)


def test_rejections_are_dead_lettered_with_their_position_and_valid_neighbours_kept() -> None:
    batch = [event("org-1", 1), {"specversion": "1.0"}, event("org-1", 3)]
    messages = [FakeMessage(7, b"{not json"), FakeMessage(8, orjson.dumps(batch))]
    routed = route_records(Source("telemetry", 0), messages, home(3), NOW_MS)
    reasons = [dict(h)["css.error.reason"] for _, _, h in routed.dead_letters]
    offsets = [dict(h)["css.source.offset"] for _, _, h in routed.dead_letters]
    assert reasons == [b"invalid_json", b"schema_violation"]
    assert offsets == [b"7", b"8"]
    rows = [row for b in routed.batches for _, _, rs in b.records for row in rs]
    assert [event_from_row(r).id for r in rows] == ["org-1-1", "org-1-3"]


def test_internal_records_are_split_when_full() -> None:
    messages = [
        FakeMessage(i, orjson.dumps([event("org-1", i * 100 + j) for j in range(100)]))
        for i in range(MAX_INTERNAL_EVENTS // 100 + 5)
    ]
    routed = route_records(Source("telemetry", 0), messages, home(1), NOW_MS)
    assert len(routed.batches) == 2
    assert sum(b.events for b in routed.batches) == len(messages) * 100
    assert all(orjson.loads(b.encode())["kind"] == "batch" for b in routed.batches)


def test_event_rows_round_trip() -> None:
    messages = [FakeMessage(0, orjson.dumps(event("org-9", 1)))]
    row = route_records(Source("t", 0), messages, home(1), NOW_MS).batches[0].records[0][2][0]
    assert event_row(event_from_row(row)) == row
