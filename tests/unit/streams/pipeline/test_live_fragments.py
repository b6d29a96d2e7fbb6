"""Live records from cached fragments (``streams.pipeline.live_fragments``) are the bytes
of ``orjson.dumps(live_record(...))`` for every org state: generated telemetry folded org
by org with one encoder for all orgs (so cached parts serve other orgs and other states of
the same org), and Hypothesis event sequences with tiny cache bounds (so eviction and
id reuse are exercised)."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.generate import generate_lines
from scoring.compiled import compile_catalog
from scoring.events import Event
from scoring.fold import DEFAULT_DEDUP_HORIZON_MS, Outcome, apply_event, prune
from scoring.record import forget_memos, live_record
from scoring.state import OrgState, state_from_dict, state_to_dict
from scoring.timeutil import DAY_MS, HOUR_MS, parse_time_ms
from streams.codec.catalog import load_catalog
from streams.codec.decoding import decode_record
from streams.pipeline.live_fragments import LiveRecordEncoder, LruCache

COMPILED = compile_catalog(load_catalog(None))
HORIZON = DEFAULT_DEDUP_HORIZON_MS
NOW = "2026-09-10T00:00:00Z"


def _reference(state: OrgState, revision: int = 0) -> bytes:
    """The plain path on a memo-free copy of ``state``."""
    copy = state_from_dict(state_to_dict(state))
    forget_memos(COMPILED, copy)
    return orjson.dumps(live_record(COMPILED, copy, revision=revision))


def test_generated_telemetry_gives_the_bytes_of_the_plain_path() -> None:
    encoder = LiveRecordEncoder(COMPILED)
    states: dict[str, OrgState] = {}
    now_ms = parse_time_ms(NOW)
    lines = generate_lines(8, 14, 31, start="2025-06", now=NOW, bad_rate=0.02, dup_rate=0.05)
    checked = 0
    for number, raw in enumerate(lines):
        for _index, event in decode_record(raw, now_ms).events:
            if event.is_tick:
                continue
            state = states.setdefault(event.subject, OrgState(event.subject))
            outcome = apply_event(COMPILED, state, event, dedup_horizon_ms=HORIZON)
            if number % 40 == 0:
                prune(state, dedup_horizon_ms=HORIZON)
            if outcome is Outcome.ACCEPTED or number % 5 == 0:
                revision = number % 3
                assert encoder.encode(state, revision=revision) == _reference(state, revision)
                checked += 1
    assert checked > 1000
    for state in states.values():
        assert encoder.encode(state) == orjson.dumps(live_record(COMPILED, state))


_TEMPLATES: list[tuple[str, dict[str, Any]]] = [
    ("license.activated", {"product": "sales_cloud", "count": 2}),
    ("license.deactivated", {"product": "sales_cloud", "count": 3}),
    ("license.purchased", {"product": "sales_cloud", "quantity": 5}),
    ("credits.provisioned", {"product": "data_cloud", "credits": 100}),
    ("credits.consumed", {"product": "data_cloud", "credits": 12.5}),
    ("case.created", {"product": "service_cloud", "count": 2}),
    ("work_order.created", {"product": "field_service", "count": 3}),
    ("order.placed", {"product": "commerce_cloud"}),
    ("feature.used", {"product": "service_cloud", "feature": "swarming"}),
    ("review.completed", {"program": "proactive_monitoring", "review": "threshold"}),
    ("learning.completed", {"kind": "badge"}),
    ("coaching.attended", {}),
    ("customization.reviewed", {}),
    ("error.occurred", {"source": "apex", "count": 2}),
    ("performance.sampled", {"metric": "ept_ms", "value": 1830.5, "count": 10}),
    ("alert.triggered", {"severity": "critical", "metric": "cpu"}),
    ("config.changed", {"setting": "security_health_check_score", "value": 72.25}),
    ("config.changed", {"setting": "event_monitoring_enabled", "value": False}),
    ("config.changed", {"setting": "event_monitoring_enabled", "value": 0}),
    ("config.changed", {"setting": "event_monitoring_enabled", "value": True}),
    ("config.changed", {"setting": "event_monitoring_enabled", "value": 1}),
    ("org.profile", {"products": ["service_cloud", "platform", "commerce_cloud"]}),
    ("org.profile", {"products": []}),
]
_START = parse_time_ms("2025-03-01T00:00:00Z")
_ORGS = ("org-a", "org-b", 'org-\u00e9"q')  # one id that JSON must escape


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(_ORGS) - 1),
            st.integers(0, len(_TEMPLATES) - 1),
            st.one_of(
                st.integers(0, 3 * HOUR_MS),
                st.integers(0, 5 * DAY_MS),
                st.integers(-10 * DAY_MS, 0),
                st.integers(0, 40 * DAY_MS),
                st.just(0),
            ),
            st.integers(0, 9),  # 0: no record after this event; 9: prune first
        ),
        min_size=1,
        max_size=80,
    ),
    st.integers(1, 64),
    st.integers(1, 8),
)
def test_every_state_gives_the_bytes_of_the_plain_path(
    steps: list[tuple[int, int, int, int]], max_results: int, max_derived: int
) -> None:
    encoder = LiveRecordEncoder(COMPILED, max_results=max_results, max_derived=max_derived)
    states = {org: OrgState(org) for org in _ORGS}
    times = dict.fromkeys(_ORGS, _START)
    for number, (org_index, template, step, extra) in enumerate(steps):
        org = _ORGS[org_index]
        times[org] += step
        event_type, data = _TEMPLATES[template]
        state = states[org]
        event = Event(event_type, org, "frag", str(number), times[org], data)
        apply_event(COMPILED, state, event, dedup_horizon_ms=HORIZON)
        if extra == 9:
            prune(state, dedup_horizon_ms=HORIZON)
        if extra and state.latest_time_ms is not None:
            assert encoder.encode(state) == _reference(state)
    for state in states.values():
        if state.latest_time_ms is not None:
            assert encoder.encode(state) == _reference(state)


def test_the_caches_stay_within_their_bounds() -> None:
    encoder = LiveRecordEncoder(COMPILED, max_results=5, max_derived=2)
    state = OrgState("org-bounded")
    for number in range(300):
        event_type, data = _TEMPLATES[number % len(_TEMPLATES)]
        time_ms = _START + number * 7 * HOUR_MS
        apply_event(
            COMPILED,
            state,
            Event(event_type, "org-bounded", "b", str(number), time_ms, data),
            dedup_horizon_ms=HORIZON,
        )
        assert encoder.encode(state) == orjson.dumps(live_record(COMPILED, state))
    assert len(encoder.by_identity) <= 5 and len(encoder.by_value) <= 5
    assert len(encoder.arrays) <= 2
    assert len(encoder.standing) <= 2 and len(encoder.changes) <= 2


def test_lru_cache_forgets_the_least_recently_used_entry() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.move_to_end("a")  # a hit, as readers record it
    cache.put("c", 3)
    assert list(cache) == ["a", "c"]


def test_equal_but_differently_typed_results_do_not_share_bytes() -> None:
    """``False == 0`` and ``True == 1`` in Python, not in a record."""
    encoder = LiveRecordEncoder(COMPILED)
    for number, value in enumerate((False, 0, True, 1, 0, False)):
        org = f"org-typed-{number}"
        state = OrgState(org)
        for event in (
            Event("org.profile", org, "t", "p", _START, {"products": ["platform"]}),
            Event(
                "config.changed",
                org,
                "t",
                "c",
                _START + HOUR_MS,
                {"setting": "event_monitoring_enabled", "value": value},
            ),
        ):
            apply_event(COMPILED, state, event, dedup_horizon_ms=HORIZON)
        assert encoder.encode(state) == _reference(state)
