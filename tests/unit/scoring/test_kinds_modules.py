"""Each signal kind module on its own (``scoring/kinds/<kind>.py``): params parsing, the
fold step into its own accumulators and its evaluator, without a catalog or a record.

The end-to-end behaviour of every kind through records stays in
``tests/unit/test_scoring_kinds.py``; these rows pin each module's own contract so a kind
can be changed (or added) module by module.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import pytest

from scoring import catalog as catalog_module
from scoring.accumulators import (
    Accumulator,
    LatestValues,
    MonthDays,
    MonthMax,
    MonthSamples,
    MonthSums,
    WindowEvents,
)
from scoring.errors import CatalogError, ScoringError
from scoring.events import Event
from scoring.kinds import (
    KINDS,
    config,
    deduction,
    error_free_days,
    growth,
    indicator,
    ratio,
    recency,
    threshold_average,
)
from scoring.kinds.base import EvalContext, KindResult, SignalKind
from scoring.timeutil import DAY_MS, days_in_month, month_of, month_start_ms, parse_time_ms

MODULES = {
    "ratio": ratio,
    "growth": growth,
    "indicator": indicator,
    "recency": recency,
    "error_free_days": error_free_days,
    "threshold_average": threshold_average,
    "deduction": deduction,
    "config": config,
}


def test_registry_has_one_module_per_kind_in_catalog_order() -> None:
    assert tuple(KINDS) == catalog_module.KINDS == tuple(MODULES)
    for name, module in MODULES.items():
        assert KINDS[name] is module.KIND
        assert module.KIND.name == name


def test_registry_matches_the_catalog_schema() -> None:
    schema = json.loads(resources.files("schemas").joinpath("catalog.schema.json").read_text())
    text = json.dumps(schema)
    for name in KINDS:
        assert f'"{name}"' in text


def _ctx(period_or_time: str, *, live: bool, first: str = "2020-01") -> EvalContext:
    """Monthly: ``period_or_time`` is YYYY-MM, T = start of the next month; live: an
    RFC 3339 time, T = that time."""
    if live:
        t_ms = parse_time_ms(period_or_time)
        month = month_of(t_ms)
    else:
        year, mon = (int(x) for x in period_or_time.split("-"))
        month = year * 12 + mon - 1
        t_ms = month_start_ms(month + 1)
    first_year, first_mon = (int(x) for x in first.split("-"))
    return EvalContext(
        month=month,
        t_ms=t_ms,
        live=live,
        first_month=first_year * 12 + first_mon - 1,
        month_start_ms=month_start_ms(month),
        month_days=days_in_month(month),
    )


def _run(
    kind: SignalKind[Any, Any],
    raw_params: Mapping[str, object],
    event_type: str,
    events: Sequence[tuple[str, dict[str, object]]],
    ctx: EvalContext,
    *,
    feeds: tuple[str, ...] | None = None,
) -> tuple[Sequence[Accumulator], KindResult]:
    """Parse, fold ``events`` (time, data) through the kind's own updaters, evaluate."""
    params = kind.parse(raw_params, "$.params")
    accs = kind.new_accumulators(params)
    routes = {
        (t, slot): kind.updater(params, t, slot, sign)
        for slot, t, sign in kind.feeds(params, feeds if feeds is not None else (event_type,))
    }
    for seq, (time, data) in enumerate(events, start=1):
        time_ms = parse_time_ms(time)
        event = Event(event_type, "org-1", "test", f"e{seq}", time_ms, data)
        for (t, _slot), update in routes.items():
            if t == event_type:
                update(accs, event, month_of(time_ms), seq)
    return accs, kind.evaluator(params)(accs, ctx)


# (kind, params, event type, events, ctx, accumulator types, expected (score, inputs, projected))
ROWS: list[
    tuple[
        str,
        dict[str, object],
        str,
        list[tuple[str, dict[str, object]]],
        EvalContext,
        tuple[type, ...],
        KindResult,
    ]
] = [
    (
        "ratio",
        {
            "numerator": {"mode": "running", "add": ["license.activated"], "field": "count"},
            "denominator": {"mode": "latest", "add": ["license.purchased"], "field": "quantity"},
        },
        "license.activated",
        [("2026-01-05T00:00:00Z", {"count": 3}), ("2026-01-06T00:00:00Z", {"count": 4})],
        _ctx("2026-01", live=False),
        (MonthSums, LatestValues),
        (None, {"num": 7, "den": 0}, False),  # den never set counts as 0: no data
    ),
    (
        "growth",
        {"variant": "yoy"},
        "case.created",
        [("2025-01-10T00:00:00Z", {"count": 4}), ("2026-01-10T00:00:00Z", {"count": 3})],
        _ctx("2026-01", live=False, first="2025-01"),
        (MonthSums,),
        (37, {"last": 3, "baseline": 4}, False),  # floor(50 * 3 / 4)
    ),
    (
        "growth",
        {},
        "case.created",
        [("2026-01-02T00:00:00Z", {"count": 5})],
        _ctx("2026-01-11T00:00:00Z", live=True, first="2026-01"),
        (MonthSums,),
        (None, {"last": 15.5}, False),  # run rate 5 x 31 / 10 days; no month before
    ),
    (
        "indicator",
        {"mode": "binary", "window_days": 30},
        "feature.used",
        [("2025-12-05T00:00:00Z", {})],
        _ctx("2026-01", live=False),
        (WindowEvents,),
        (0, {"count_in_window": 0}, False),  # 2025-12-05 is 57 days before 2026-02-01
    ),
    (
        "indicator",
        {"mode": "binary", "window_days": 30},
        "feature.used",
        [("2026-01-05T00:00:00Z", {})],
        _ctx("2026-02-04T00:00:00Z", live=True),
        (WindowEvents,),
        (100, {"count_in_window": 1}, False),  # exactly 30 days: inside a live window
    ),
    (
        "indicator",
        {"mode": "tiers", "tiers": [[1, 40], [3, 100]]},
        "learning.completed",
        [("2025-03-01T00:00:00Z", {}), ("2025-02-28T00:00:00Z", {})],
        _ctx("2026-02", live=False),
        (MonthSums,),
        (40, {"count": 1}, False),  # months 2025-03..2026-02: only the March event
    ),
    (
        "recency",
        {"tiers": [[30, 100], [120, 50]]},
        "review.completed",
        [("2025-11-01T00:00:00Z", {})],
        _ctx("2026-01", live=False),
        (MonthMax,),
        (50, {"days_since": 92}, False),
    ),
    (
        "error_free_days",
        {},
        "error.occurred",
        [("2026-02-03T10:00:00Z", {}), ("2026-02-03T11:00:00Z", {}), ("2026-02-09T00:00:00Z", {})],
        _ctx("2026-02-10T00:00:00Z", live=True),
        (MonthDays,),
        (80, {"error_days": 2, "days_considered": 10}, False),
    ),
    (
        "threshold_average",
        {"good": 1000, "bad": 3000, "field": "value"},
        "performance.sampled",
        [
            ("2026-01-05T00:00:00Z", {"value": 1500.5, "count": 3}),
            ("2026-01-06T00:00:00Z", {"value": 2000, "count": 1}),
        ],
        _ctx("2026-01", live=False),
        (MonthSamples,),
        (68, {"mean": 1625.375}, False),  # floor(100 (3000 - 1625.375) / 2000)
    ),
    (
        "deduction",
        {"field": "severity", "points": {"warning": 2.5, "critical": 10}},
        "alert.triggered",
        [
            ("2026-01-05T00:00:00Z", {"severity": "warning"}),
            ("2026-01-06T00:00:00Z", {"severity": "critical"}),
            ("2026-01-07T00:00:00Z", {"severity": "unknown"}),
        ],
        _ctx("2026-01", live=False),
        (MonthSums,),
        (87, {"points": 12.5}, False),
    ),
    (
        "config",
        {"field": "value"},
        "config.changed",
        [("2026-01-05T00:00:00Z", {"value": 72.9}), ("2026-01-04T00:00:00Z", {"value": 10})],
        _ctx("2026-01", live=False),
        (LatestValues,),
        (72, {"value": 72.9}, False),  # latest time wins, not the latest arrival
    ),
]


@pytest.mark.parametrize(
    ("kind_name", "raw", "event_type", "events", "ctx", "acc_types", "expected"),
    ROWS,
    ids=[f"{row[0]}-{i}" for i, row in enumerate(ROWS)],
)
def test_kind_module_folds_and_evaluates(
    kind_name: str,
    raw: dict[str, object],
    event_type: str,
    events: list[tuple[str, dict[str, object]]],
    ctx: EvalContext,
    acc_types: tuple[type, ...],
    expected: KindResult,
) -> None:
    accs, result = _run(MODULES[kind_name].KIND, raw, event_type, events, ctx)
    assert tuple(type(acc) for acc in accs) == acc_types
    assert result == expected


@pytest.mark.parametrize("kind_name", list(MODULES))
def test_a_signal_never_fed_evaluates_from_none(kind_name: str) -> None:
    """The record passes None for a signal no event has fed yet: every kind handles it."""
    raw: dict[str, dict[str, object]] = {
        "ratio": {
            "numerator": {"mode": "year", "add": ["a"], "field": "count"},
            "denominator": {"mode": "running", "add": ["b"], "field": "count"},
        },
        "growth": {},
        "indicator": {"mode": "binary"},
        "recency": {"tiers": [[30, 100]]},
        "error_free_days": {},
        "threshold_average": {"good": 1, "bad": 2},
        "deduction": {"points": {"x": 1}},
        "config": {},
    }
    kind = MODULES[kind_name].KIND
    score, inputs, projected = kind.evaluator(kind.parse(raw[kind_name], "$"))(
        None, _ctx("2026-01", live=False)
    )
    assert score is None or 0 <= score <= 100
    assert isinstance(inputs, dict)
    assert projected is False


def test_ratio_feeds_come_from_its_operands_with_signs() -> None:
    kind = ratio.KIND
    params = kind.parse(
        {
            "numerator": {
                "mode": "running",
                "add": ["license.activated"],
                "subtract": ["license.deactivated"],
                "field": "count",
            },
            "denominator": {"mode": "latest", "add": ["license.purchased"], "field": "quantity"},
        },
        "$",
    )
    assert kind.feeds_from_params is True
    assert kind.feeds(params, ()) == [
        (0, "license.activated", 1),
        (0, "license.deactivated", -1),
        (1, "license.purchased", 1),
    ]
    _accs, result = _run(
        kind,
        {
            "numerator": {
                "mode": "running",
                "add": ["license.activated"],
                "subtract": ["license.deactivated"],
                "field": "count",
            },
            "denominator": {"mode": "running", "add": ["license.activated"], "field": "count"},
        },
        "license.deactivated",
        [("2026-01-05T00:00:00Z", {"count": 2})],
        _ctx("2026-01", live=False),
        feeds=("license.deactivated",),
    )
    assert result == (None, {"num": -2, "den": 0}, False)


@pytest.mark.parametrize(
    ("kind_name", "raw", "message"),
    [
        ("growth", {"variant": "mom"}, r"^\$\.variant: must be avg12 or yoy"),
        ("indicator", {"mode": "sometimes"}, r"^\$\.mode: must be binary or tiers"),
        ("indicator", {"mode": "binary", "window_days": -1}, r"^\$\.window_days: must be"),
        ("indicator", {"mode": "tiers", "tiers": [[3, 10], [1, 20]]}, r"sorted ascending"),
        ("recency", {"tiers": []}, r"^\$\.tiers: must be a non-empty list"),
        ("threshold_average", {"good": 3, "bad": 3}, r"^\$\.good: must be < bad"),
        ("threshold_average", {"good": "x", "bad": 3}, r"good and bad must be numbers"),
        ("deduction", {"points": {"a": -1}}, r"^\$\.points\.a: must be >= 0"),
        ("ratio", {"numerator": {"mode": "sum"}}, r"^\$\.numerator\.mode: must be one of"),
    ],
)
def test_kind_parse_errors_name_the_json_path(
    kind_name: str, raw: dict[str, object], message: str
) -> None:
    with pytest.raises(CatalogError, match=message) as info:
        MODULES[kind_name].KIND.parse(raw, "$")
    assert isinstance(info.value, ScoringError)


def test_literal_params_are_parsed_to_their_closed_values() -> None:
    assert growth.KIND.parse({}, "$") == growth.GrowthParams("avg12")
    assert growth.KIND.parse({"variant": "yoy"}, "$").variant == "yoy"
    params = indicator.KIND.parse({"mode": "binary"}, "$")
    assert params == indicator.IndicatorParams("binary", 30, ())


@pytest.mark.parametrize(
    ("kind_name", "raw", "instant"),
    [
        (
            "ratio",
            {
                "numerator": {"mode": "year", "add": ["a"], "field": "count"},
                "denominator": {"mode": "year", "add": ["a"], "field": "count"},
            },
            False,
        ),
        ("growth", {}, True),
        ("indicator", {"mode": "binary"}, True),
        ("indicator", {"mode": "tiers", "tiers": [[1, 50]]}, False),
        ("recency", {"tiers": [[1, 50]]}, True),
        ("error_free_days", {}, True),
        ("threshold_average", {"good": 1, "bad": 2}, False),
        ("deduction", {"points": {}}, False),
        ("config", {}, False),
    ],
)
def test_reads_the_instant(kind_name: str, raw: dict[str, object], instant: bool) -> None:
    kind = MODULES[kind_name].KIND
    assert kind.reads_the_instant(kind.parse(raw, "$")) is instant


def test_window_days_are_whole_days() -> None:
    (acc,) = indicator.KIND.new_accumulators(
        indicator.KIND.parse({"mode": "binary", "window_days": 7}, "$")
    )
    assert isinstance(acc, WindowEvents)
    assert acc.window_ms == 7 * DAY_MS
