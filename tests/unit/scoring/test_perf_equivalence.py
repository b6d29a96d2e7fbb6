"""Byte-identical records across the evaluation speed-ups (issues 3 and 8).

The golden files under ``tests/data/scoring/`` were written by the scoring code *before*
the record/roll-up optimisations; these tests score the same generated telemetry again
and compare the JSON text of every record, field order and number formatting included.

- ``perf_equivalence_offline.jsonl``: ``score_lines`` over 30 orgs x 15 months with
  poison lines and duplicates (every monthly record and the final live record per org).
- ``perf_equivalence_stream.jsonl``: records taken *while* folding (as the worker does),
  pruning every 100 events, so the same org state is evaluated at many versions: this is
  what would catch a stale cached previous-month evaluation.

Besides the golden files, the memos of ``scoring.record`` are checked directly: records of
a state that has served records before equal those of its memo-free JSON copy, after
late, duplicate and out-of-order events (generated telemetry and hypothesis).

Regenerate (only from a commit whose output is known good):
``PYTHONPATH=. .venv/bin/python tests/unit/scoring/test_perf_equivalence.py --write``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.generate import generate_lines
from scoring.events import Event
from scoring.fold import DEFAULT_DEDUP_HORIZON_MS, Outcome, apply_event, prune
from scoring.record import forget_memos, live_record, monthly_record
from scoring.state import OrgState, state_from_dict, state_to_dict
from scoring.timeutil import DAY_MS, HOUR_MS, parse_time_ms
from streams.codec.decoding import decode_record
from streams.pipeline.offline import score_lines
from tests.scoring_support import DEFAULT_CATALOG, DEFAULT_COMPILED

DATA = Path(__file__).resolve().parents[2] / "data" / "scoring"
OFFLINE_GOLDEN = DATA / "perf_equivalence_offline.jsonl"
STREAM_GOLDEN = DATA / "perf_equivalence_stream.jsonl"
NOW = "2026-09-10T00:00:00Z"


def _text(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def offline_lines() -> list[str]:
    """Every record of a 30-org, 15-month run with 3% poison and 5% duplicates."""
    lines = generate_lines(30, 15, 11, start="2025-06", now=NOW, bad_rate=0.03, dup_rate=0.05)
    result = score_lines(
        lines,
        DEFAULT_CATALOG,
        grace_ms=HOUR_MS,
        dedup_horizon_ms=DEFAULT_DEDUP_HORIZON_MS,
        now_ms=parse_time_ms(NOW),
    )
    summary = {
        "accepted": result.accepted,
        "rejected": result.rejected,
        "duplicates": result.duplicates,
    }
    return [_text(summary)] + [_text(record) for record in result.records]


def stream_lines() -> Iterator[str]:
    """Records evaluated mid-fold: every 150th accepted event of an org yields its live
    record and the monthly record of its previous month (revision = events so far); the
    state is pruned every 100 events and round-tripped through its JSON form now and then."""
    now_ms = parse_time_ms(NOW)
    states: dict[str, OrgState] = {}
    counts: dict[str, int] = {}
    lines = generate_lines(6, 15, 23, start="2025-06", now=NOW, bad_rate=0.02, dup_rate=0.05)
    for number, raw in enumerate(lines):
        for _index, event in decode_record(raw, now_ms).events:
            if event.is_tick:
                continue
            state = states.get(event.subject)
            if state is None:
                state = states[event.subject] = OrgState(event.subject)
            outcome = apply_event(
                DEFAULT_COMPILED, state, event, dedup_horizon_ms=DEFAULT_DEDUP_HORIZON_MS
            )
            if outcome is not Outcome.ACCEPTED:
                continue
            count = counts[event.subject] = counts.get(event.subject, 0) + 1
            if count % 100 == 0:
                prune(state, dedup_horizon_ms=DEFAULT_DEDUP_HORIZON_MS)
            if count % 700 == 0:
                state = states[event.subject] = state_from_dict(state_to_dict(state))
            if count % 150 == 0:
                assert state.latest_month is not None
                yield _text(live_record(DEFAULT_COMPILED, state, revision=number))
                yield _text(monthly_record(DEFAULT_COMPILED, state, state.latest_month - 1))
    for org_id in sorted(states):
        yield _text(live_record(DEFAULT_COMPILED, states[org_id]))


def _compare(golden: Path, produced: list[str]) -> None:
    expected = golden.read_text(encoding="utf-8").splitlines()
    assert len(produced) == len(expected)
    for line_number, (got, want) in enumerate(zip(produced, expected, strict=True), start=1):
        assert got == want, f"{golden.name} line {line_number} differs"


def test_offline_scoring_matches_the_pre_optimisation_golden_output() -> None:
    _compare(OFFLINE_GOLDEN, offline_lines())


def test_mid_fold_records_match_the_pre_optimisation_golden_output() -> None:
    _compare(STREAM_GOLDEN, list(stream_lines()))


def _fresh_copy(state: OrgState) -> OrgState:
    """The same state without any memo (the JSON form carries none)."""
    copy = state_from_dict(state_to_dict(state))
    forget_memos(DEFAULT_COMPILED, copy)
    return copy


def _records(state: OrgState) -> list[str]:
    """Live record and the monthly records of the latest month and the two before it."""
    latest_month = state.latest_month
    assert latest_month is not None
    texts = [_text(live_record(DEFAULT_COMPILED, state))]
    first_month = state.first_month
    assert first_month is not None
    for month in range(max(first_month, latest_month - 2), latest_month + 1):
        texts.append(_text(monthly_record(DEFAULT_COMPILED, state, month)))
    return texts


def test_memoised_records_equal_those_of_a_memo_free_copy_throughout_a_fold() -> None:
    """Late events (backfill), duplicates, too-old events and pruning between records: a
    state that has served records (and memoised results) gives the records of its copy."""
    now_ms = parse_time_ms(NOW)
    states: dict[str, OrgState] = {}
    lines = generate_lines(3, 6, 5, start="2026-02", now=NOW, bad_rate=0.02, dup_rate=0.1)
    checked = 0
    for number, raw in enumerate(lines):
        for _index, event in decode_record(raw, now_ms).events:
            if event.is_tick:
                continue
            state = states.setdefault(event.subject, OrgState(event.subject))
            apply_event(DEFAULT_COMPILED, state, event, dedup_horizon_ms=DEFAULT_DEDUP_HORIZON_MS)
            if number % 50 == 0:
                prune(state, dedup_horizon_ms=DEFAULT_DEDUP_HORIZON_MS)
            if number % 7 == 0 and state.latest_month is not None:
                assert _records(state) == _records(_fresh_copy(state))
                checked += 1
    assert checked > 100


_TEMPLATES: list[tuple[str, dict[str, Any]]] = [
    ("license.activated", {"product": "sales_cloud", "count": 2}),
    ("license.deactivated", {"product": "sales_cloud"}),
    ("license.purchased", {"product": "sales_cloud", "quantity": 5}),
    ("license.purchased", {"product": "field_service", "quantity": 3}),
    ("credits.provisioned", {"product": "data_cloud", "credits": 100}),
    ("credits.consumed", {"product": "data_cloud", "credits": 12.5}),
    ("case.created", {"product": "service_cloud"}),
    ("feature.used", {"product": "service_cloud", "feature": "swarming"}),
    ("learning.completed", {"kind": "badge"}),
    ("coaching.attended", {}),
    ("error.occurred", {"source": "apex", "count": 2}),
    ("performance.sampled", {"metric": "ept_ms", "value": 1830.5, "count": 10}),
    ("alert.triggered", {"severity": "warning", "metric": "cpu"}),
    ("config.changed", {"setting": "security_health_check_score", "value": 72}),
    ("org.profile", {"products": ["service_cloud", "platform"]}),
]
_START = parse_time_ms("2025-01-01T00:00:00Z")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(_TEMPLATES) - 1),
            st.integers(0, 500 * DAY_MS),  # event time offset: any order, late ones too
            st.booleans(),  # ask for records after this event
        ),
        min_size=1,
        max_size=60,
    )
)
def test_memos_never_serve_a_stale_result(steps: list[tuple[int, int, bool]]) -> None:
    state = OrgState("org-memo")
    for number, (template, offset, ask) in enumerate(steps):
        event_type, data = _TEMPLATES[template]
        event = Event(event_type, "org-memo", "memo", str(number), _START + offset, data)
        apply_event(DEFAULT_COMPILED, state, event, dedup_horizon_ms=DEFAULT_DEDUP_HORIZON_MS)
        if ask and state.latest_month is not None:
            assert _records(state) == _records(_fresh_copy(state))
    assert _records(state) == _records(_fresh_copy(state))


def _write() -> None:
    for path, produced in ((OFFLINE_GOLDEN, offline_lines()), (STREAM_GOLDEN, stream_lines())):
        path.write_text("".join(f"{line}\n" for line in produced), encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        _write()
