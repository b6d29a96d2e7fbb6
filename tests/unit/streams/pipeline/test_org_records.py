"""The agent's decisions without Kafka: redelivery, late events, month close (spec 3, 10)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.compiled import compile_catalog
from scoring.events import Event
from scoring.timeutil import DAY_MS, month_of, month_start_ms, parse_period, parse_time_ms
from streams.codec.catalog import load_catalog
from streams.codec.table_values import PartitionClock, decode_slot, encode_slot, new_slot
from streams.pipeline.org_records import (
    AppliedRecord,
    apply_org_record,
    monthly_owed_after_apply,
    months_to_close,
)

COMPILED = compile_catalog(load_catalog(None))
HORIZON = DAY_MS


def event(n: int, time: str, org: str = "org-1", kind: str = "case.created") -> Event:
    return Event(
        type=kind,
        subject=org,
        source="test",
        id=f"e{n}",
        time_ms=parse_time_ms(time),
        data={"product": "service_cloud"},
    )


def test_a_redelivered_record_is_skipped_and_changes_nothing() -> None:
    slot = new_slot("org-1")
    first = apply_org_record(
        COMPILED, slot, "t:0", 5, [event(1, "2025-01-10T00:00:00Z")], dedup_horizon_ms=HORIZON
    )
    assert first.accepted == 1 and not first.skipped
    before = encode_slot(slot).value
    again = apply_org_record(
        COMPILED, slot, "t:0", 5, [event(2, "2025-01-11T00:00:00Z")], dedup_horizon_ms=HORIZON
    )
    older = apply_org_record(
        COMPILED, slot, "t:0", 3, [event(3, "2025-01-12T00:00:00Z")], dedup_horizon_ms=HORIZON
    )
    assert again.skipped and older.skipped
    assert encode_slot(slot).value == before


def test_offsets_are_tracked_per_input_partition() -> None:
    slot = new_slot("org-1")
    apply_org_record(
        COMPILED, slot, "t:0", 9, [event(1, "2025-01-10T00:00:00Z")], dedup_horizon_ms=HORIZON
    )
    other = apply_org_record(
        COMPILED, slot, "t:1", 2, [event(2, "2025-01-11T00:00:00Z")], dedup_horizon_ms=HORIZON
    )
    assert not other.skipped and slot.offsets == {"t:0": 9, "t:1": 2}


def test_duplicates_and_counts_are_reported() -> None:
    slot = new_slot("org-1")
    events = [event(1, "2025-01-10T00:00:00Z"), event(1, "2025-01-10T00:00:00Z")]
    applied = apply_org_record(COMPILED, slot, "t:0", 0, events, dedup_horizon_ms=HORIZON)
    assert (applied.accepted, applied.duplicates) == (1, 1)
    assert applied.min_accepted_month == parse_period("2025-01")


def test_slot_round_trips_through_bytes() -> None:
    slot = new_slot("org-1")
    apply_org_record(
        COMPILED, slot, "t:0", 0, [event(1, "2025-03-10T00:00:00Z")], dedup_horizon_ms=HORIZON
    )
    slot.revisions[parse_period("2025-02")] = 2
    slot.live_owed = True
    value = encode_slot(slot).value
    assert encode_slot(decode_slot(value, lambda seq: None)).value == value


def test_a_late_event_reemits_every_closed_month_from_its_month() -> None:
    slot = new_slot("org-1")
    apply_org_record(
        COMPILED, slot, "t:0", 0, [event(1, "2025-01-10T00:00:00Z")], dedup_horizon_ms=HORIZON
    )
    closed = parse_period("2025-04")
    late = apply_org_record(
        COMPILED, slot, "t:0", 1, [event(2, "2025-02-10T00:00:00Z")], dedup_horizon_ms=HORIZON
    )
    owed = monthly_owed_after_apply(slot, late, closed)
    assert owed == [(parse_period(p), 1) for p in ("2025-02", "2025-03", "2025-04")]
    again = apply_org_record(
        COMPILED, slot, "t:0", 2, [event(3, "2025-03-01T00:00:00Z")], dedup_horizon_ms=HORIZON
    )
    assert monthly_owed_after_apply(slot, again, closed) == [
        (parse_period("2025-03"), 2),
        (parse_period("2025-04"), 2),
    ]


def test_an_org_first_seen_late_gets_revision_zero_records() -> None:
    slot = new_slot("org-2")
    applied = apply_org_record(
        COMPILED, slot, "t:0", 0, [event(1, "2025-02-10T00:00:00Z")], dedup_horizon_ms=HORIZON
    )
    owed = monthly_owed_after_apply(slot, applied, parse_period("2025-03"))
    assert owed == [(parse_period("2025-02"), 0), (parse_period("2025-03"), 0)]


def test_an_event_moving_the_first_month_earlier_gets_revision_zero_there() -> None:
    slot = new_slot("org-3")
    apply_org_record(
        COMPILED, slot, "t:0", 0, [event(1, "2025-03-10T00:00:00Z")], dedup_horizon_ms=HORIZON
    )
    applied = apply_org_record(
        COMPILED, slot, "t:0", 1, [event(2, "2025-01-05T00:00:00Z")], dedup_horizon_ms=HORIZON
    )
    owed = monthly_owed_after_apply(slot, applied, parse_period("2025-03"))
    assert owed == [
        (parse_period("2025-01"), 0),
        (parse_period("2025-02"), 0),
        (parse_period("2025-03"), 1),
    ]


def test_nothing_is_owed_for_events_in_open_months() -> None:
    slot = new_slot("org-1")
    applied = apply_org_record(
        COMPILED, slot, "t:0", 0, [event(1, "2025-05-10T00:00:00Z")], dedup_horizon_ms=HORIZON
    )
    assert monthly_owed_after_apply(slot, applied, parse_period("2025-04")) == []
    assert monthly_owed_after_apply(slot, AppliedRecord(), parse_period("2025-06")) == []


def test_month_close_sweep_starts_at_the_first_month_and_resumes() -> None:
    slot = new_slot("org-1")
    apply_org_record(
        COMPILED, slot, "t:0", 0, [event(1, "2025-02-10T00:00:00Z")], dedup_horizon_ms=HORIZON
    )
    feb, mar, apr = (parse_period(p) for p in ("2025-02", "2025-03", "2025-04"))
    assert list(months_to_close(slot, None, mar)) == [(feb, 0), (mar, 0)]
    assert list(months_to_close(slot, mar, apr)) == [(apr, 0)]
    slot.revisions[apr] = 3  # a redone sweep re-emits the revision already out
    assert list(months_to_close(slot, mar, apr)) == [(apr, 3)]


@given(st.integers(min_value=0, max_value=40 * 366 * DAY_MS), st.integers(0, 7 * DAY_MS))
@settings(max_examples=300)
def test_the_clock_closes_exactly_the_months_the_spec_closes(time_ms: int, grace: int) -> None:
    clock = PartitionClock()
    clock.advance(time_ms)
    due = clock.due_closed_month(grace)
    assert due is not None
    assert month_start_ms(due + 1) + grace <= time_ms < month_start_ms(due + 2) + grace
    assert PartitionClock.from_json(clock.to_json()) == clock
    assert month_of(time_ms) >= due + 1
