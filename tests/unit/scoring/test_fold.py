"""The fold (spec 3, 9): too_old, duplicates within the horizon, first seen, latest-wins
ties, state serialisation, retention (prune) and the hypothesis properties of issue 3 item 6
as amended (b: permutation, c: duplicates, d: later events; every score in 0..100 or null)."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.events import Event
from scoring.fold import (
    MAX_DEDUP_IDS,
    Outcome,
    apply_event,
    dedup_key,
    prune,
)
from scoring.record import live_record, monthly_record
from scoring.state import OrgState, state_from_dict, state_to_dict
from scoring.timeutil import DAY_MS, HOUR_MS, month_of, parse_time_ms
from tests.scoring_support import DEFAULT_COMPILED, ev, fold, fold_outcomes, month, signal

CAT = DEFAULT_COMPILED
H = 24 * HOUR_MS


# ----------------------------------------------------------------- too_old


def test_too_old_is_per_org_latest_month_minus_13() -> None:
    events = [
        ev("learning.completed", "2026-03-10T00:00:00Z", kind="badge"),
        ev("learning.completed", "2025-02-01T00:00:00Z", kind="badge"),  # 13 months back: ok
        ev("learning.completed", "2025-01-31T23:59:59Z", kind="badge"),  # 14 months: too old
    ]
    state, outcomes = fold_outcomes(events)
    assert outcomes == [Outcome.ACCEPTED, Outcome.ACCEPTED, Outcome.TOO_OLD]
    assert state.first_month == month("2025-02")
    assert state.seq == 2


def test_first_event_of_an_org_is_never_too_old_and_first_seen_moves_earlier() -> None:
    events = [
        ev("learning.completed", "2026-03-10T00:00:00Z", kind="badge"),
        ev("learning.completed", "2025-12-10T00:00:00Z", kind="badge"),
    ]
    state, outcomes = fold_outcomes(events)
    assert outcomes == [Outcome.ACCEPTED, Outcome.ACCEPTED]
    assert (state.first_time_ms, state.latest_time_ms) == (
        parse_time_ms("2025-12-10T00:00:00Z"),
        parse_time_ms("2026-03-10T00:00:00Z"),
    )
    assert state.first_month == month("2025-12")


def test_too_old_wins_over_duplicate_and_changes_nothing() -> None:
    first = ev("learning.completed", "2025-01-10T00:00:00Z", kind="badge", event_id="x")
    state, _ = fold_outcomes(
        [first, ev("learning.completed", "2026-03-01T00:00:00Z", kind="badge")]
    )
    before = state_to_dict(state)
    assert apply_event(CAT, state, first, dedup_horizon_ms=400 * DAY_MS) is Outcome.TOO_OLD
    assert state_to_dict(state) == before


# ----------------------------------------------------------------- duplicates


def test_duplicate_within_horizon_of_stream_time_after_acceptance() -> None:
    late = ev("case.created", "2026-01-01T00:00:00Z", product="service_cloud", event_id="late")
    events = [ev("case.created", "2026-03-01T00:00:00Z", product="service_cloud"), late]
    state, _ = fold_outcomes(events)
    # A retry of a late event right after it is caught although its own time is old.
    assert apply_event(CAT, state, late, dedup_horizon_ms=H) is Outcome.DUPLICATE
    # The stream time moves on by exactly H: still a duplicate (stored >= L - H).
    apply_event(
        CAT,
        state,
        ev("case.created", "2026-03-02T00:00:00Z", product="service_cloud"),
        dedup_horizon_ms=H,
    )
    assert apply_event(CAT, state, late, dedup_horizon_ms=H) is Outcome.DUPLICATE
    # One more millisecond: applied again, the documented price of bounded memory.
    apply_event(
        CAT,
        state,
        ev("case.created", "2026-03-02T00:00:00.001Z", product="service_cloud"),
        dedup_horizon_ms=H,
    )
    assert apply_event(CAT, state, late, dedup_horizon_ms=H) is Outcome.ACCEPTED


def test_first_copy_wins_and_source_is_part_of_the_identity() -> None:
    a = ev(
        "license.purchased",
        "2026-01-01T00:00:00Z",
        product="sales_cloud",
        quantity=10,
        event_id="p",
    )
    b = ev(
        "license.purchased",
        "2026-01-01T00:00:00Z",
        product="sales_cloud",
        quantity=99,
        event_id="p",
    )
    c = ev(
        "license.purchased",
        "2026-01-01T00:00:00Z",
        product="sales_cloud",
        quantity=50,
        event_id="p",
        ce_source="other",
    )
    state, outcomes = fold_outcomes([a, b])
    assert outcomes == [Outcome.ACCEPTED, Outcome.DUPLICATE]
    assert signal(live_record(CAT, state), "sales_cloud.license_activation")["inputs"]["den"] == 10
    state, outcomes = fold_outcomes([a, c])
    assert outcomes == [Outcome.ACCEPTED, Outcome.ACCEPTED]


def test_dedup_memory_forgets_the_earliest_acceptance_first() -> None:
    t = "2026-01-01T00:00:00Z"
    state = OrgState("org-1")
    events = [ev("coaching.attended", t, event_id=f"id{i}") for i in range(MAX_DEDUP_IDS + 1)]
    for e in events:
        assert apply_event(CAT, state, e, dedup_horizon_ms=H) is Outcome.ACCEPTED
    assert len(state.dedup) == MAX_DEDUP_IDS
    assert dedup_key("test", "id0") not in state.dedup
    assert apply_event(CAT, state, events[1], dedup_horizon_ms=H) is Outcome.DUPLICATE
    assert apply_event(CAT, state, events[0], dedup_horizon_ms=H) is Outcome.ACCEPTED


def test_prune_drops_only_stale_dedup_ids() -> None:
    state = fold(
        [
            ev("coaching.attended", "2026-01-01T00:00:00Z", event_id="a"),
            ev("coaching.attended", "2026-01-03T00:00:00Z", event_id="b"),
        ]
    )
    prune(state, dedup_horizon_ms=H)
    assert list(state.dedup) == [dedup_key("test", "b")]


# ----------------------------------------------------------------- ownership, latest wins


def test_profile_removal_and_permanent_purchase() -> None:
    events = [
        ev("org.profile", "2025-01-01T00:00:00Z", products=["sales_cloud", "service_cloud"]),
        ev("license.purchased", "2025-02-10T00:00:00Z", product="sales_cloud", quantity=10),
        ev("org.profile", "2025-03-05T00:00:00Z", products=["platform"]),
    ]
    state = fold(events)

    def statuses(period: str) -> tuple[str, str, str]:
        record = monthly_record(CAT, state, month(period))
        return (
            signal(record, "sales_cloud.license_activation")["status"],
            signal(record, "service_cloud.swarming")["status"],
            signal(record, "platform.apex_error_free_days")["status"],
        )

    assert statuses("2025-01") == ("no_data", "ok", "ok")
    assert statuses("2025-02") == ("ok", "ok", "ok")
    # The later profile removes service_cloud, never the purchased sales_cloud.
    assert statuses("2025-03") == ("ok", "not_applicable", "ok")


def test_ownership_from_zero_quantity_purchase_is_not_given() -> None:
    state = fold(
        [ev("license.purchased", "2025-01-01T00:00:00Z", product="sales_cloud", quantity=0)]
    )
    record = live_record(CAT, state)
    assert signal(record, "sales_cloud.license_activation")["status"] == "not_applicable"
    assert record["categories"]["technical_health"]["available"] is False
    assert record["signals"][0]["inputs"] == {}


def test_latest_wins_tie_goes_to_later_arrival_and_out_of_order_is_by_time() -> None:
    setting = "security_health_check_score"
    events = [
        ev("org.profile", "2025-01-01T00:00:00Z", products=["platform"]),
        ev("config.changed", "2025-01-10T00:00:00Z", setting=setting, value=80),
        ev("config.changed", "2025-01-05T00:00:00Z", setting=setting, value=20),
        ev("config.changed", "2025-01-10T00:00:00Z", setting=setting, value=60),
    ]
    state = fold(events)
    assert signal(live_record(CAT, state), "platform.security_health_check")["score"] == 60


# ----------------------------------------------------------------- state serialisation


def test_state_round_trips_through_json() -> None:
    events = [
        ev("org.profile", "2025-01-01T00:00:00Z", products=["platform", "data_cloud"]),
        ev(
            "credits.provisioned",
            "2025-01-02T00:00:00Z",
            product="data_cloud",
            credits=Fraction("10.5"),
        ),
        ev("credits.consumed", "2025-01-03T00:00:00Z", product="data_cloud", credits=0.1),
        ev("feature.used", "2025-01-04T00:00:00Z", product="data_cloud", feature="x"),
        ev(
            "config.changed", "2025-01-05T00:00:00Z", setting="event_monitoring_enabled", value=True
        ),
        ev("performance.sampled", "2025-01-06T00:00:00Z", metric="ept_ms", value=0.5),
        ev("error.occurred", "2025-01-07T00:00:00Z", source="apex"),
        ev("coaching.attended", "2025-01-08T00:00:00Z"),
    ]
    state = fold(events)
    data = json.loads(json.dumps(state_to_dict(state)))
    assert data["v"] == 1
    restored = state_from_dict(data)
    assert restored == state
    assert (restored.org_id, restored.first_month, restored.latest_time_ms) == (
        state.org_id,
        state.first_month,
        state.latest_time_ms,
    )
    assert live_record(CAT, restored) == live_record(CAT, state)
    # The dedup memory survives: a repeat is still a duplicate after a restore.
    assert apply_event(CAT, restored, events[-1], dedup_horizon_ms=H) is Outcome.DUPLICATE


def test_full_dedup_memory_stays_small() -> None:
    state = fold(
        [
            ev("coaching.attended", "2026-01-01T00:00:00Z", event_id=f"i{i}")
            for i in range(MAX_DEDUP_IDS)
        ]
    )
    size = len(json.dumps(state_to_dict(state)))
    assert size < 450_000  # documented bound: 20,000 x 16 bytes, base64


# ----------------------------------------------------------------- properties

_BASE_MS = parse_time_ms("2024-01-01T00:00:00Z")
_PRODUCTS = [
    "sales_cloud",
    "service_cloud",
    "field_service",
    "data_cloud",
    "commerce_cloud",
    "platform",
]


@st.composite
def events_strategy(
    draw: st.DrawFn, *, span_days: int, max_size: int = 40, unique: bool = True
) -> list[Event]:
    count = draw(st.integers(1, max_size))
    offsets = draw(
        st.lists(st.integers(0, span_days * DAY_MS), min_size=count, max_size=count, unique=unique)
    )
    events = []
    for i, offset in enumerate(offsets):
        kind = draw(st.integers(0, 13))
        product = draw(st.sampled_from(_PRODUCTS))
        data: dict[str, Any]
        if kind == 0:
            event_type, data = (
                "org.profile",
                {"products": draw(st.lists(st.sampled_from(_PRODUCTS), max_size=3))},
            )
        elif kind == 1:
            event_type, data = (
                "license.purchased",
                {"product": product, "quantity": draw(st.integers(0, 50))},
            )
        elif kind == 2:
            event_type = draw(st.sampled_from(["license.activated", "license.deactivated"]))
            data = {"product": product, "count": draw(st.integers(1, 30))}
        elif kind == 3:
            event_type = draw(st.sampled_from(["credits.provisioned", "credits.consumed"]))
            data = {
                "product": "data_cloud",
                "credits": draw(st.sampled_from([0, 1, Fraction("0.1"), 2.5, 1000])),
            }
        elif kind == 4:
            event_type = draw(
                st.sampled_from(["work_order.created", "case.created", "order.placed"])
            )
            data = {"product": product, "count": draw(st.integers(1, 20))}
        elif kind == 5:
            event_type, data = "feature.used", {"product": "service_cloud", "feature": "swarming"}
        elif kind == 6:
            event_type, data = (
                "review.completed",
                {"program": "proactive_monitoring", "review": "threshold"},
            )
        elif kind == 7:
            event_type, data = "learning.completed", {"kind": "badge"}
        elif kind == 8:
            event_type, data = "coaching.attended", {}
        elif kind == 9:
            event_type, data = "error.occurred", {"source": "apex", "count": 2}
        elif kind == 10:
            event_type, data = (
                "performance.sampled",
                {
                    "metric": "ept_ms",
                    "value": draw(st.sampled_from([100, 2000.5, 4999, 7000])),
                    "count": draw(st.integers(1, 5)),
                },
            )
        elif kind == 11:
            event_type, data = (
                "alert.triggered",
                {"severity": draw(st.sampled_from(["warning", "critical"])), "metric": "m"},
            )
        elif kind == 12:
            event_type, data = "customization.reviewed", {}
        else:
            event_type, data = (
                "config.changed",
                {
                    "setting": draw(
                        st.sampled_from(["event_monitoring_enabled", "security_health_check_score"])
                    ),
                    "value": draw(st.sampled_from([True, False, 0, 55, Fraction("99.5")])),
                },
            )
        events.append(Event(event_type, "org-1", "prop", f"id{i}", _BASE_MS + offset, data))
    return events


def _all_records(state: Any, last_month: int | None = None) -> list[dict[str, Any]]:
    first = state.first_month
    last = month_of(state.latest_time_ms) if last_month is None else last_month
    records = [monthly_record(CAT, state, m) for m in range(first, last + 2)]
    records.append(live_record(CAT, state))
    return records


def _check_scores(record: dict[str, Any]) -> None:
    scores = [record["overall"]["score"]]
    scores += [c["score"] for c in record["categories"].values()]
    scores += [g for c in record["categories"].values() for g in c["groups"].values()]
    scores += [s["score"] for s in record["signals"]]
    for score in scores:
        assert score is None or (type(score) is int and 0 <= score <= 100)


_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(events_strategy(span_days=390), st.randoms(use_true_random=False))
def test_permuting_an_orgs_events_changes_nothing(events: list[Event], rng: Any) -> None:
    # Amended property (b): unique ids, distinct times, all within 13 months.
    shuffled = list(events)
    rng.shuffle(shuffled)
    a, b = fold(events), fold(shuffled)
    for record in _all_records(a):
        _check_scores(record)
    assert _all_records(a) == _all_records(b, month_of(a.latest_time_ms))


@_SETTINGS
@given(events_strategy(span_days=500), st.data())
def test_a_duplicate_inside_the_horizon_changes_nothing(
    events: list[Event], data: st.DataObject
) -> None:
    # Amended property (c): repeat an accepted event right after it (stream time unchanged).
    state = OrgState("org-1")
    index = data.draw(st.integers(0, len(events) - 1))
    for i, event in enumerate(events):
        outcome = apply_event(CAT, state, event, dedup_horizon_ms=H)
        if i == index and outcome is Outcome.ACCEPTED:
            before = state_to_dict(state)
            assert apply_event(CAT, state, event, dedup_horizon_ms=H) is Outcome.DUPLICATE
            assert state_to_dict(state) == before


@_SETTINGS
@given(events_strategy(span_days=500), events_strategy(span_days=300), st.integers(0, 16))
def test_events_after_month_m_do_not_change_its_monthly_record(
    events: list[Event], later: list[Event], month_offset: int
) -> None:
    # Amended property (d): append events dated after M (unique ids).
    state = fold(events)
    m = state.first_month + month_offset
    end_ms = parse_time_ms(f"{m // 12:04d}-{m % 12 + 1:02d}-01T00:00:00Z")
    cutoff = end_ms + 31 * DAY_MS
    appended = [
        Event(e.type, e.subject, e.source, "late-" + e.id, cutoff + e.time_ms - _BASE_MS, e.data)
        for e in later
    ]
    before = monthly_record(CAT, state, m)
    after_state = fold(events + appended)
    assert monthly_record(CAT, after_state, m) == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events_strategy(span_days=1100, max_size=80, unique=False))
def test_pruned_state_gives_the_records_of_the_unpruned_one(events: list[Event]) -> None:
    # Events in arrival order with out-of-order times and repeats; the worker prunes after
    # each event; every month it can still emit (>= latest month - 13) must not change.
    events = [
        Event(e.type, e.subject, e.source, e.id if i % 3 else "dup", e.time_ms, e.data)
        for i, e in enumerate(events)
    ]
    full = OrgState("org-1")
    pruned = OrgState("org-1")
    for i, event in enumerate(events):
        outcome = apply_event(CAT, full, event, dedup_horizon_ms=H)
        assert apply_event(CAT, pruned, event, dedup_horizon_ms=H) is outcome
        prune(pruned, dedup_horizon_ms=H)
        if i % 3 == 0:  # as the worker does, through the changelog's JSON now and then
            pruned = state_from_dict(json.loads(json.dumps(state_to_dict(pruned))))
    latest_month = month_of(full.latest_time_ms)
    first = max(full.first_month, latest_month - 13)
    for m in range(first, latest_month + 3):
        assert monthly_record(CAT, pruned, m) == monthly_record(CAT, full, m), m
    assert live_record(CAT, pruned) == live_record(CAT, full)


def test_prune_drops_old_buckets_but_keeps_their_snapshot() -> None:
    events = [
        ev("org.profile", "2022-01-01T00:00:00Z", products=["sales_cloud", "platform"]),
        ev("license.purchased", "2022-01-02T00:00:00Z", product="sales_cloud", quantity=40),
        ev("customization.reviewed", "2022-01-03T00:00:00Z"),
    ]
    for i in range(40):
        m = month("2022-01") + i
        period = f"{m // 12:04d}-{m % 12 + 1:02d}"
        events.append(ev("license.activated", f"{period}-10T00:00:00Z", product="sales_cloud"))
        events.append(ev("learning.completed", f"{period}-11T00:00:00Z", kind="badge"))
    full = fold(events)
    pruned = fold(events)
    prune(pruned, dedup_horizon_ms=H)
    latest_month = month_of(full.latest_time_ms)
    kept = pruned.signals["sales_cloud.license_activation"][0].buckets  # type: ignore[union-attr]
    assert min(kept) == latest_month - 26
    assert len(state_to_dict(pruned)["signals"]["learning.trailhead"][0]["b"]) == 27
    for m in range(latest_month - 13, latest_month + 2):
        assert monthly_record(CAT, pruned, m) == monthly_record(CAT, full, m)
    record = live_record(CAT, pruned)
    assert signal(record, "sales_cloud.license_activation")["inputs"] == {"num": 40, "den": 40}
    assert signal(record, "platform.tech_debt_review")["inputs"]["days_since"] > 365
