"""The scoring pass without a broker: internal records in, records to send and values to
write out (month close, late re-emission, redelivery, throttle, DLQ, re-keying)."""

from __future__ import annotations

import orjson

from scoring.compiled import compile_catalog
from scoring.events import Event
from scoring.timeutil import DAY_MS, month_of, parse_time_ms
from streams.codec.catalog import load_catalog
from streams.codec.internal import (
    WAKE,
    InternalBatch,
    encode_advance,
    event_row,
)
from streams.codec.table_values import OrgSlot, PartitionClock, new_slot
from streams.pipeline.pass_result import Outgoing, PassResult, ScorerConfig
from streams.pipeline.scoring_pass import Scorer

COMPILED = compile_catalog(load_catalog(None))
EVENTS, CONTROL = "app-events", "app-control"


class FakeOrgs:
    """The tables, as a dict: what the runtime's OrgStore does with a pass result."""

    def __init__(self) -> None:
        self.values: dict[str, OrgSlot] = {}

    def load(self, org: str) -> OrgSlot:
        return self.values.get(org) or new_slot(org)

    def write(self, result: PassResult) -> None:
        self.values.update(result.org_values)


def make_scorer(
    interval: float = 0.0, homes: dict[str, int] | None = None, partitions: int = 1
) -> tuple[Scorer, FakeOrgs]:
    orgs = FakeOrgs()
    config = ScorerConfig(
        output_topic="scores",
        dlq_topic="dlq",
        control_topic=CONTROL,
        grace_ms=0,
        dedup_horizon_ms=DAY_MS,
        live_emit_interval_seconds=interval,
    )
    scorer = Scorer(COMPILED, config, orgs, lambda org: (homes or {}).get(org, 0))
    for partition in range(partitions):
        scorer.load_partition(partition, {}, PartitionClock())
    return scorer, orgs


def event(n: int, time: str, org: str = "org-1", kind: str = "case.created") -> Event:
    data: dict[str, object] = {} if kind == "clock.tick" else {"product": "service_cloud"}
    subject = "clock" if kind == "clock.tick" else org
    return Event(kind, subject, "test", f"e{n}", parse_time_ms(time), data)


def batch(offset: int, *events: Event, source: str = "telemetry:0") -> bytes:
    internal = InternalBatch(source, 0)
    internal.add(offset, 1_700_000_000.0, [event_row(e) for e in events], 100)
    return internal.encode()


def run(
    scorer: Scorer,
    orgs: FakeOrgs,
    value: bytes,
    now_s: float = 0.0,
    partition: int = 0,
    topic: str = EVENTS,
) -> PassResult:
    result = scorer.run(partition, topic, value, now_s)
    orgs.write(result)
    return result


def records(sends: list[Outgoing], topic: str = "scores") -> list[dict[str, object]]:
    return [orjson.loads(out.value) for out in sends if out.topic == topic]


def monthly(sends: list[Outgoing]) -> list[tuple[str, int]]:
    return [
        (str(r["period"]), int(str(r["revision"])))
        for r in records(sends)
        if r["kind"] == "monthly"
    ]


def test_a_tick_past_a_month_end_sweeps_every_org_of_the_roster() -> None:
    scorer, orgs = make_scorer()
    first = run(scorer, orgs, batch(0, event(1, "2026-01-05T00:00:00Z", "a")))
    run(scorer, orgs, batch(1, event(2, "2026-01-06T00:00:00Z", "b")))
    assert first.roster_view["a"] == month_of(parse_time_ms("2026-01-05T00:00:00Z"))
    assert monthly(first.sends) == []
    swept = run(scorer, orgs, batch(2, event(3, "2026-02-01T00:00:01Z", kind="clock.tick")))
    assert sorted(monthly(swept.sends)) == [("2026-01", 0), ("2026-01", 0)]
    assert {out.key for out in swept.sends} == {b"a", b"b"}
    assert swept.must_wait and swept.clock is not None
    assert swept.clock.closed_month == month_of(parse_time_ms("2026-01-01T00:00:00Z"))
    again = run(scorer, orgs, batch(3, event(4, "2026-02-02T00:00:00Z", kind="clock.tick")))
    assert monthly(again.sends) == []  # a month closes once


def test_a_late_event_reemits_every_closed_month_up_to_the_latest() -> None:
    scorer, orgs = make_scorer()
    run(scorer, orgs, batch(0, event(1, "2026-01-05T00:00:00Z")))
    run(scorer, orgs, batch(1, event(2, "2026-03-01T00:00:01Z", kind="clock.tick")))
    late = run(scorer, orgs, batch(2, event(3, "2026-01-20T00:00:00Z")))
    assert monthly(late.sends) == [("2026-01", 1), ("2026-02", 1)]
    assert late.counts.late == 1
    later = run(scorer, orgs, batch(3, event(4, "2026-02-20T00:00:00Z")))
    assert monthly(later.sends) == [("2026-02", 2)]


def test_a_redelivered_record_is_skipped_and_what_it_caused_is_emitted_again() -> None:
    scorer, orgs = make_scorer()
    run(scorer, orgs, batch(0, event(1, "2026-01-05T00:00:00Z")))
    run(scorer, orgs, batch(1, event(2, "2026-02-01T00:00:01Z", kind="clock.tick")))
    applied = run(scorer, orgs, batch(7, event(3, "2026-01-09T00:00:00Z")))
    state_before = orgs.values["org-1"].state.latest_time_ms
    again = run(scorer, orgs, batch(7, event(3, "2026-01-09T00:00:00Z")))
    assert again.counts.redelivered == 1 and not again.counts.accepted
    assert monthly(again.sends) == monthly(applied.sends) == [("2026-01", 1)]
    assert [r["kind"] for r in records(again.sends)].count("live") == 1
    assert orgs.values["org-1"].state.latest_time_ms == state_before
    assert orgs.values["org-1"].offsets == {"telemetry:0": 7}


def test_live_records_are_throttled_deferred_and_flushed_when_due() -> None:
    scorer, orgs = make_scorer(interval=10.0)
    first = run(scorer, orgs, batch(0, event(1, "2026-01-05T00:00:00Z")), now_s=100.0)
    assert [out.is_live for out in first.sends] == [True]
    second = run(scorer, orgs, batch(1, event(2, "2026-01-06T00:00:00Z")), now_s=101.0)
    assert second.sends == [] and orgs.values["org-1"].live_owed
    assert scorer.partitions_with_due_live(105.0) == []
    assert scorer.partitions_with_due_live(110.0) == [0]
    woken = run(scorer, orgs, WAKE, now_s=110.0, topic=CONTROL)
    live = records(woken.sends)
    assert [r["kind"] for r in live] == ["live"]
    assert live[0]["as_of"] == "2026-01-06T00:00:00Z"


def test_a_live_record_owed_before_a_restart_is_emitted_after_the_assignment() -> None:
    scorer, orgs = make_scorer(interval=10.0)
    slot = new_slot("org-1")
    owed = run(scorer, orgs, batch(0, event(1, "2026-01-05T00:00:00Z")))
    slot = orgs.values["org-1"]
    slot.live_owed = True
    restarted, _ = make_scorer(interval=10.0)
    restarted.orgs = orgs
    restarted.load_partition(0, dict(owed.roster_view), PartitionClock())
    woken = restarted.run(0, CONTROL, WAKE, 0.0)
    assert [r["kind"] for r in records(woken.sends)] == ["live"]
    assert woken.must_wait and not woken.org_values["org-1"].live_owed


def test_a_too_old_event_is_dead_lettered_with_its_input_position() -> None:
    scorer, orgs = make_scorer()
    run(scorer, orgs, batch(0, event(1, "2026-12-05T00:00:00Z")))
    old = run(scorer, orgs, batch(41, event(2, "2025-01-05T00:00:00Z"), source="telemetry:3"))
    dead = [out for out in old.sends if out.topic == "dlq"]
    assert len(dead) == 1 and old.must_wait
    headers = dict(dead[0].headers or [])
    assert headers["css.error.reason"] == b"too_old"
    assert (headers["css.source.topic"], headers["css.source.partition"]) == (b"telemetry", b"3")
    assert headers["css.source.offset"] == b"41"
    assert orjson.loads(dead[0].value)["id"] == "e2"
    assert old.counts.rejected == {"too_old": 1}


def test_events_of_an_org_homed_elsewhere_are_rekeyed_and_applied_there() -> None:
    scorer, orgs = make_scorer(homes={"b": 1}, partitions=2)
    moved = run(scorer, orgs, batch(5, event(1, "2026-01-05T00:00:00Z", "b")))
    assert "b" not in orgs.values
    [out] = moved.sends
    assert (out.topic, out.partition, out.key) == (CONTROL, 1, b"b") and moved.must_wait
    now_s = parse_time_ms("2026-06-01T00:00:00Z") / 1000  # re-keyed events are validated again
    applied = run(scorer, orgs, out.value, now_s=now_s, partition=1, topic=CONTROL)
    assert applied.counts.accepted == {"case.created": 1}
    assert orgs.values["b"].offsets == {"telemetry:0": 5}
    assert [r["kind"] for r in records(applied.sends)] == ["live"]


def test_an_advance_record_moves_the_watermark_and_closes_months() -> None:
    scorer, orgs = make_scorer()
    run(scorer, orgs, batch(0, event(1, "2026-01-05T00:00:00Z")))
    advanced = run(
        scorer, orgs, encode_advance(parse_time_ms("2026-02-01T00:00:01Z")), topic=CONTROL
    )
    assert monthly(advanced.sends) == [("2026-01", 0)]
