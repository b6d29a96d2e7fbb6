"""The scoring pass without a broker: internal records in, records to send and values to
write out (month close, late re-emission, redelivery, throttle, DLQ, re-keying)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import orjson

from scoring.catalog import catalog_from_dict
from scoring.compiled import compile_catalog
from scoring.events import Event
from scoring.timeutil import DAY_MS, month_of, parse_time_ms
from streams.codec.catalog import load_catalog
from streams.codec.internal import (
    WAKE,
    InternalBatch,
    RawRecord,
    encode_advance,
    encode_raw_batch,
    event_payload,
    event_row,
)
from streams.codec.table_values import OrgSlot, PartitionClock, new_slot
from streams.pipeline.pass_result import Outgoing, PassResult, ScorerConfig
from streams.pipeline.scoring_pass import Scorer

COMPILED = compile_catalog(load_catalog(None))
EVENTS, CONTROL = "app-events", "app-control"
NOW_S = parse_time_ms("2027-06-01T00:00:00Z") / 1000  # the decoder's clock (future_timestamp)


class FakeOrgs:
    """The tables, as a dict: what the runtime's OrgStore does with a pass result."""

    def __init__(self) -> None:
        self.values: dict[str, OrgSlot] = {}

    def load(self, org: str) -> OrgSlot:
        return self.values.get(org) or new_slot(org)

    def write(self, result: PassResult) -> None:
        self.values.update(result.org_values)


def make_scorer(
    interval: float = 0.0,
    homes: dict[str, int] | None = None,
    partitions: int = 1,
    output_like_input: bool = False,
) -> tuple[Scorer, FakeOrgs]:
    orgs = FakeOrgs()
    config = ScorerConfig(
        output_topic="scores",
        dlq_topic="dlq",
        control_topic=CONTROL,
        grace_ms=0,
        dedup_horizon_ms=DAY_MS,
        live_emit_interval_seconds=interval,
        output_like_input=output_like_input,
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
    """A raw batch holding one input record with ``events`` (a JSON array when several)."""
    payloads = [event_payload(e) for e in events]
    value = orjson.dumps(payloads[0] if len(payloads) == 1 else payloads)
    return encode_raw_batch(source, [RawRecord(offset, 1_700_000_000_000, None, value)])


def json_batch(offset: int, *events: Event, source: str = "telemetry:0") -> bytes:
    """The JSON batch format of earlier versions of the ingest stage."""
    internal = InternalBatch(source, 0)
    internal.add(offset, 1_700_000_000.0, [event_row(e) for e in events], 100)
    return internal.encode()


def run(
    scorer: Scorer,
    orgs: FakeOrgs,
    value: bytes,
    now_s: float = NOW_S,
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
    assert swept.clock is not None
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
    first = run(scorer, orgs, batch(0, event(1, "2026-01-05T00:00:00Z")), now_s=NOW_S + 100.0)
    assert [out.is_live for out in first.sends] == [True]
    second = run(scorer, orgs, batch(1, event(2, "2026-01-06T00:00:00Z")), now_s=NOW_S + 101.0)
    assert second.sends == [] and orgs.values["org-1"].live_owed
    assert scorer.partitions_with_due_live(NOW_S + 105.0) == []
    assert scorer.partitions_with_due_live(NOW_S + 110.0) == [0]
    woken = run(scorer, orgs, WAKE, now_s=NOW_S + 110.0, topic=CONTROL)
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
    woken = restarted.run(0, CONTROL, WAKE, NOW_S)
    assert [r["kind"] for r in records(woken.sends)] == ["live"]
    assert not woken.org_values["org-1"].live_owed


def test_a_too_old_event_is_dead_lettered_with_its_input_position() -> None:
    scorer, orgs = make_scorer()
    run(scorer, orgs, batch(0, event(1, "2026-12-05T00:00:00Z")))
    old = run(scorer, orgs, batch(41, event(2, "2025-01-05T00:00:00Z"), source="telemetry:3"))
    dead = [out for out in old.sends if out.topic == "dlq"]
    assert len(dead) == 1
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
    assert (out.topic, out.partition, out.key) == (CONTROL, 1, b"b")
    applied = run(scorer, orgs, out.value, partition=1, topic=CONTROL)
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



def test_poison_in_a_raw_batch_is_dead_lettered_with_its_position_and_key() -> None:
    scorer, orgs = make_scorer()
    good = orjson.dumps(event_payload(event(1, "2026-01-05T00:00:00Z")))
    bad_element = {**event_payload(event(2, "2026-01-06T00:00:00Z")), "data": {"product": 5}}
    mixed = orjson.dumps([event_payload(event(3, "2026-01-07T00:00:00Z")), bad_element])
    value = encode_raw_batch(
        "telemetry:1",
        [
            RawRecord(10, 1_700_000_000_000, b"org-1", b"{not json"),
            RawRecord(11, 1_700_000_000_000, b"org-1", good),
            RawRecord(12, 1_700_000_000_000, b"org-1", mixed),
        ],
    )
    result = run(scorer, orgs, value, now_s=NOW_S)
    dead = [out for out in result.sends if out.topic == "dlq"]
    positions = [
        (dict(out.headers or [])["css.error.reason"], dict(out.headers or [])["css.source.offset"])
        for out in dead
    ]
    assert positions == [(b"invalid_json", b"10"), (b"schema_violation", b"12")]
    assert all(out.key == b"org-1" for out in dead)
    assert result.counts.rejected == {"invalid_json": 1, "schema_violation": 1}
    assert result.counts.accepted == {"case.created": 2}
    assert orgs.values["org-1"].offsets == {"telemetry:1": 12}
    assert result.input_timestamp_s == 1_700_000_000.0


def test_json_batches_of_earlier_versions_are_still_applied() -> None:
    scorer, orgs = make_scorer()
    result = run(scorer, orgs, json_batch(3, event(1, "2026-01-05T00:00:00Z")))
    assert result.counts.accepted == {"case.created": 1}
    assert orgs.values["org-1"].offsets == {"telemetry:0": 3}


def test_score_records_go_to_the_pass_partition_when_the_output_is_partitioned_alike() -> None:
    for like_input, expected in ((True, 1), (False, None)):
        scorer, orgs = make_scorer(homes={"b": 1}, partitions=2, output_like_input=like_input)
        run(scorer, orgs, batch(0, event(1, "2026-01-05T00:00:00Z", "b")), partition=1)
        swept = run(
            scorer,
            orgs,
            batch(1, event(2, "2026-02-01T00:00:01Z", kind="clock.tick"), source="telemetry:1"),
            partition=1,
        )
        outputs = [out for out in swept.sends if out.topic == "scores"]
        assert outputs and {out.partition for out in outputs} == {expected}


def test_a_first_record_over_13_months_waits_for_the_acks_of_the_months_it_cannot_redo() -> None:
    # The partition has closed its months up to 2026-06 (another org), then one record (a
    # batch) brings 30 months of a new org's history: every event was recent when it was
    # applied, so every month owes a revision-0 record, emitted by this pass without a
    # sweep. A redelivery re-emits only the last TOO_OLD_MONTHS (older records read months
    # the retention prunes), so this pass must have those older records acknowledged
    # before its value is written.
    scorer, orgs = make_scorer()
    run(scorer, orgs, batch(0, event(0, "2026-07-05T00:00:00Z", "b")))
    start = parse_time_ms("2024-01-10T00:00:00Z")

    def data(n: int) -> dict[str, object]:  # counts that differ month to month
        return {"product": "service_cloud", "count": 1 + n % 7}

    history = [
        Event("case.created", "org-1", "test", f"h{n}", start + n * 30 * DAY_MS, data(n))
        for n in range(30)
    ]
    first_month, latest_month = month_of(start), month_of(history[-1].time_ms)
    closed = month_of(parse_time_ms("2026-06-01T00:00:00Z"))
    assert latest_month - first_month >= 26 and latest_month <= closed

    def periods(first: int, last: int) -> list[str]:
        return [f"{m // 12:04d}-{m % 12 + 1:02d}" for m in range(first, last + 1)]

    applied = run(scorer, orgs, batch(1, *history))
    assert monthly(applied.sends) == [(p, 0) for p in periods(first_month, closed)]
    again = run(scorer, orgs, batch(1, *history))
    assert again.counts.redelivered == 1
    first_bytes = {str(r["period"]): out.value for out, r in _monthly_outs(applied.sends)}
    reemitted = _monthly_outs(again.sends)
    assert [str(r["period"]) for _, r in reemitted] == periods(latest_month - 13, closed)
    for out, r in reemitted:  # the same records, same revisions
        assert out.value == first_bytes[str(r["period"])]


def _monthly_outs(sends: list[Outgoing]) -> list[tuple[Outgoing, dict[str, object]]]:
    outs = [(out, orjson.loads(out.value)) for out in sends if out.topic == "scores"]
    return [(out, r) for out, r in outs if r["kind"] == "monthly"]


def licence_event(n: int, time: str, kind: str, count: int) -> Event:
    field = "quantity" if kind == "license.purchased" else "count"
    return Event(kind, "org-1", "test", f"l{n}", parse_time_ms(time),
                 {"product": "sales_cloud", field: count})  # fmt: skip


def alerts(sends: list[Outgoing]) -> list[tuple[str, str, int, bool, str, str]]:
    return [
        (str(a["kind"]), str(a["scope"]), int(str(a["revision"])), bool(a["changed"]),
         str(a["from"]["band"]), str(a["to"]["band"]))  # type: ignore[index]
        for a in records(sends, "scores.alerts")
    ]  # fmt: skip


def test_band_changes_go_with_the_monthly_records_and_are_withdrawn_when_revised_away() -> None:
    """Overall = the activated share of Sales Cloud licences: January 80 (excellent),
    February 30 (fair), then late February events move it back and forth."""
    data = orjson.loads(
        (Path(__file__).resolve().parents[4] / "streams" / "default_catalog.json").read_bytes()
    )
    data["signals"] = [s for s in data["signals"] if s["id"] == "sales_cloud.license_activation"]
    scorer, orgs = make_scorer()
    scorer.compiled = compile_catalog(catalog_from_dict(data))
    # The alerts topic has the input's partition count: alerts go to the pass's partition.
    scorer.config = replace(scorer.config, alerts_like_input=True)

    def apply(offset: int, time: str, kind: str, count: int) -> PassResult:
        return run(scorer, orgs, batch(offset, licence_event(offset, time, kind, count)))

    apply(0, "2026-01-05T00:00:00Z", "license.purchased", 100)
    apply(1, "2026-01-05T01:00:00Z", "license.activated", 80)
    february = apply(2, "2026-02-10T00:00:00Z", "license.deactivated", 50)
    assert monthly(february.sends) == [("2026-01", 0)]  # the first month: no band change
    assert alerts(february.sends) == []
    closed = run(scorer, orgs, batch(3, event(4, "2026-03-01T00:00:01Z", kind="clock.tick")))
    assert monthly(closed.sends) == [("2026-02", 0)]
    assert alerts(closed.sends) == [
        ("band_change", "overall", 0, True, "excellent", "fair"),
        ("band_change", "product_adoption", 0, True, "excellent", "fair"),
    ]
    back = apply(4, "2026-02-11T00:00:00Z", "license.activated", 40)
    assert monthly(back.sends) == [("2026-02", 1)]  # 70: excellent again, the change is gone
    assert alerts(back.sends) == [
        ("band_change", "overall", 1, False, "excellent", "excellent"),
        ("band_change", "product_adoption", 1, False, "excellent", "excellent"),
    ]
    quiet = apply(5, "2026-02-12T00:00:00Z", "license.activated", 1)
    assert monthly(quiet.sends) == [("2026-02", 2)]
    assert alerts(quiet.sends) == []  # nothing held, nothing to withdraw
    again = apply(6, "2026-02-13T00:00:00Z", "license.deactivated", 60)
    assert alerts(again.sends) == [
        ("band_change", "overall", 3, True, "excellent", "fair"),
        ("band_change", "product_adoption", 3, True, "excellent", "fair"),
    ]
    sent = [out for out in again.sends if out.topic == "scores.alerts"]
    assert [(out.key, out.partition) for out in sent] == [(b"org-1", 0), (b"org-1", 0)]
    assert again.counts.alerts["band_change"] == 2
