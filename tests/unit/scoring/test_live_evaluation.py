"""The incremental live evaluation (``scoring.live_evaluation``): a live record of a state
that has served live records before is the record of its memo-free copy, whatever came in
between (events of the same month at a moving or an unchanged time, late events, events
before the first one, ownership changes, duplicates, pruning), and results it did not
have to re-evaluate are the same objects."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.events import Event
from scoring.fold import DEFAULT_DEDUP_HORIZON_MS, apply_event, prune
from scoring.record import forget_memos, live_evaluations, live_record
from scoring.state import OrgState, state_from_dict, state_to_dict
from scoring.timeutil import DAY_MS, HOUR_MS, parse_time_ms
from tests.scoring_support import DEFAULT_COMPILED, ev, fold

HORIZON = DEFAULT_DEDUP_HORIZON_MS

_TEMPLATES: list[tuple[str, dict[str, Any]]] = [
    ("license.activated", {"product": "sales_cloud", "count": 2}),
    ("license.deactivated", {"product": "sales_cloud"}),
    ("license.purchased", {"product": "sales_cloud", "quantity": 5}),
    ("license.purchased", {"product": "field_service", "quantity": 3}),
    ("credits.provisioned", {"product": "data_cloud", "credits": 100}),
    ("credits.consumed", {"product": "data_cloud", "credits": 12.5}),
    ("case.created", {"product": "service_cloud"}),
    ("work_order.created", {"product": "field_service", "count": 3}),
    ("feature.used", {"product": "service_cloud", "feature": "swarming"}),
    ("review.completed", {"program": "proactive_monitoring", "review": "threshold"}),
    ("learning.completed", {"kind": "badge"}),
    ("coaching.attended", {}),
    ("customization.reviewed", {}),
    ("error.occurred", {"source": "apex", "count": 2}),
    ("performance.sampled", {"metric": "ept_ms", "value": 1830.5, "count": 10}),
    ("alert.triggered", {"severity": "warning", "metric": "cpu"}),
    ("config.changed", {"setting": "security_health_check_score", "value": 72}),
    # A boolean and an integer that compare equal in Python but not in a record.
    ("config.changed", {"setting": "event_monitoring_enabled", "value": False}),
    ("config.changed", {"setting": "event_monitoring_enabled", "value": 0}),
    ("org.profile", {"products": ["service_cloud", "platform"]}),
    ("org.profile", {"products": []}),
]
_START = parse_time_ms("2025-03-01T00:00:00Z")


def _text(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def _fresh_live_text(state: OrgState) -> str:
    copy = state_from_dict(state_to_dict(state))
    forget_memos(DEFAULT_COMPILED, copy)
    return _text(live_record(DEFAULT_COMPILED, copy))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(_TEMPLATES) - 1),
            # Mostly small steps within a month (the incremental path), some back in time
            # (late events, events before the first one), some into the next months.
            st.one_of(
                st.integers(0, 3 * HOUR_MS),
                st.integers(0, 4 * DAY_MS),
                st.integers(-10 * DAY_MS, 0),
                st.integers(0, 40 * DAY_MS),
                st.just(0),
            ),
            st.integers(0, 9),  # 0: same id as the previous event (a duplicate); 9: prune
        ),
        min_size=1,
        max_size=80,
    )
)
def test_live_records_equal_those_of_a_memo_free_copy(
    steps: list[tuple[int, int, int]],
) -> None:
    state = OrgState("org-live")
    time_ms = _START
    for number, (template, step, extra) in enumerate(steps):
        time_ms += step
        event_type, data = _TEMPLATES[template]
        event_id = str(number - 1 if extra == 0 and number else number)
        event = Event(event_type, "org-live", "live", event_id, time_ms, data)
        apply_event(DEFAULT_COMPILED, state, event, dedup_horizon_ms=HORIZON)
        if extra == 9:
            prune(state, dedup_horizon_ms=HORIZON)
        if state.latest_time_ms is not None:
            assert _text(live_record(DEFAULT_COMPILED, state)) == _fresh_live_text(state)


def test_an_unchanged_state_gets_the_same_evaluation_back() -> None:
    state = fold([ev("coaching.attended", "2025-03-02T10:00:00Z")])
    first, _previous = live_evaluations(DEFAULT_COMPILED, state)
    again, _previous = live_evaluations(DEFAULT_COMPILED, state)
    assert again is first


def test_only_the_fed_signals_and_those_reading_the_instant_are_evaluated_again() -> None:
    plan = DEFAULT_COMPILED.record
    state = fold(
        [
            ev("org.profile", "2025-03-01T00:00:00Z", products=["service_cloud", "platform"]),
            ev("learning.completed", "2025-03-02T10:00:00Z", kind="badge"),
            ev("alert.triggered", "2025-03-02T11:00:00Z", severity="warning", metric="cpu"),
            ev("coaching.attended", "2025-03-02T12:00:00Z"),
        ]
    )
    before, _previous = live_evaluations(DEFAULT_COMPILED, state)
    apply_event(
        DEFAULT_COMPILED,
        state,
        ev("learning.completed", "2025-03-03T09:00:00Z", kind="badge"),
        dedup_horizon_ms=HORIZON,
    )
    after, _previous = live_evaluations(DEFAULT_COMPILED, state)
    assert after is not before
    trailhead = plan.index_of["learning.trailhead"]
    alerts = plan.index_of["platform.prom_alerts"]
    coaching = plan.index_of["success.expert_coaching"]
    assert after.results[trailhead] is not before.results[trailhead]  # fed: new count
    assert after.results[alerts] is before.results[alerts]  # timeless, not fed: reused
    # Reads the instant: evaluated again at the new time; days since unchanged, so the
    # previous (equal) result object is kept.
    assert after.results[coaching] is before.results[coaching]
    assert _text(live_record(DEFAULT_COMPILED, state)) == _fresh_live_text(state)


def test_a_false_setting_then_a_zero_one_is_a_new_result() -> None:
    """``(0, {"value": False})`` equals ``(0, {"value": 0})`` in Python."""
    state = fold(
        [
            ev("org.profile", "2025-03-01T00:00:00Z", products=["platform"]),
            ev(
                "config.changed",
                "2025-03-02T00:00:00Z",
                setting="event_monitoring_enabled",
                value=False,
            ),
        ]
    )
    assert '"value":false' in _text(live_record(DEFAULT_COMPILED, state))
    apply_event(
        DEFAULT_COMPILED,
        state,
        ev("config.changed", "2025-03-03T00:00:00Z", setting="event_monitoring_enabled", value=0),
        dedup_horizon_ms=HORIZON,
    )
    assert '"value":0' in _text(live_record(DEFAULT_COMPILED, state))
    assert _text(live_record(DEFAULT_COMPILED, state)) == _fresh_live_text(state)
