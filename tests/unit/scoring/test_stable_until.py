"""``SignalKind.stable_until``: a live result of a signal that reads the instant is the
same at every instant from T up to (not including) the instant its kind names, within the
month, while no event feeds the signal. The live evaluation reuses results on that
promise, so it is checked here against the evaluator itself, for every kind that makes it
(recency, error-free days, binary indicator)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.evaluation import SignalPlan
from scoring.kinds import FOREVER_MS, EvalContext
from scoring.timeutil import DAY_MS, HOUR_MS, format_time_ms, month_of, parse_time_ms
from tests.scoring_support import DEFAULT_COMPILED, ev, fold

_PLAN = DEFAULT_COMPILED.record
_MONTH_START = parse_time_ms("2025-05-01T00:00:00Z")
# (signal, an event type and data feeding it)
_CASES = {
    "service_cloud.swarming": ("feature.used", {"product": "service_cloud", "feature": "swarming"}),
    "success.expert_coaching": ("coaching.attended", {}),
    "platform.tech_debt_review": ("customization.reviewed", {}),
    "platform.apex_error_free_days": ("error.occurred", {"source": "apex", "count": 1}),
}


def _ctx(t_ms: int) -> EvalContext:
    month = month_of(t_ms)
    start, _end, days = _PLAN.month_facts(month)
    return EvalContext(month, t_ms, True, month - 6, start, days)


def _signal(signal_id: str) -> SignalPlan:
    return _PLAN.signals[_PLAN.index_of[signal_id]]


def test_every_kind_that_reads_the_instant_says_whether_its_results_hold() -> None:
    holding = {s.id for s in _PLAN.signals if s.stable_until is not None}
    assert holding == set(_CASES)
    assert all(s.stable_until is None for s in _PLAN.signals if s.timeless)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(_CASES)),
    # Event times before T: up to 200 days back, in hours (window edges, day edges).
    st.lists(st.integers(0, 200 * 24), min_size=0, max_size=12),
    st.integers(0, 29 * DAY_MS),  # T within May 2025
    st.integers(1, 40 * DAY_MS),  # how far after T to look
)
def test_a_live_result_holds_until_the_instant_its_kind_names(
    signal_id: str, hours_back: list[int], t_offset: int, look: int
) -> None:
    t_ms = _MONTH_START + t_offset
    event_type, data = _CASES[signal_id]
    state = fold(
        [ev("coaching.attended", "2024-11-01T00:00:00Z")]  # an org older than the window
        + [
            ev(event_type, format_time_ms(t_ms - hours * HOUR_MS - (hours % 7) * 1000), **data)
            for hours in hours_back
        ]
    )
    signal = _signal(signal_id)
    assert signal.stable_until is not None
    accs = state.signals.get(signal.id)
    result = signal.evaluate(accs, _ctx(t_ms))
    until = signal.stable_until(accs, _ctx(t_ms), result)
    assert until > t_ms
    month_end = _PLAN.month_facts(month_of(t_ms))[1]
    later = min(t_ms + look, month_end - 1)
    if later < until:
        assert signal.evaluate(accs, _ctx(later)) == result
    if until < month_end and until != FOREVER_MS:
        # The instant named is a real edge for these kinds: the result moves there.
        assert signal.evaluate(accs, _ctx(until)) != result
