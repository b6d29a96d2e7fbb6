"""Output record rules (spec 6 and 9 "Output"): field order, statuses and inputs, number
formatting, trending, recommendations, explain."""

from __future__ import annotations

import itertools
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devtools.generate import generate_lines
from scoring.catalog import catalog_from_dict
from scoring.compiled import compile_catalog
from scoring.numbers import output_number
from scoring.record import live_record, monthly_record
from scoring.rollup import Totals, band, effective_weights
from scoring.timeutil import DAY_MS, HOUR_MS, parse_time_ms
from streams.pipeline.offline import score_lines
from tests.scoring_support import DEFAULT_CATALOG, DEFAULT_COMPILED, ev, fold, month

CAT = DEFAULT_COMPILED

FULL_ORG = [
    ev(
        "org.profile", "2025-12-01T00:00:00Z", products=["sales_cloud", "service_cloud", "platform"]
    ),
    ev("license.purchased", "2025-12-02T00:00:00Z", product="sales_cloud", quantity=100),
    ev("license.activated", "2025-12-03T00:00:00Z", product="sales_cloud", count=40),
    ev("case.created", "2025-12-04T00:00:00Z", product="service_cloud", count=10),
    ev(
        "review.completed",
        "2025-12-05T00:00:00Z",
        program="proactive_monitoring",
        review="threshold",
    ),
    ev("config.changed", "2025-12-06T00:00:00Z", setting="event_monitoring_enabled", value=False),
    ev("license.activated", "2026-01-03T00:00:00Z", product="sales_cloud", count=30),
    ev("learning.completed", "2026-01-04T00:00:00Z", kind="certification"),
    ev("alert.triggered", "2026-01-05T00:00:00Z", severity="critical", metric="m"),
    ev("config.changed", "2026-01-06T00:00:00Z", setting="event_monitoring_enabled", value=True),
    ev("performance.sampled", "2026-01-07T00:00:00Z", metric="ept_ms", value=2000.25),
]


def test_field_order_and_header() -> None:
    record = monthly_record(CAT, fold(FULL_ORG), month("2026-01"), revision=3)
    assert list(record) == [
        "schema",
        "org_id",
        "kind",
        "period",
        "as_of",
        "revision",
        "catalog",
        "overall",
        "categories",
        "signals",
        "trending",
        "recommendations",
        "explain",
    ]
    assert record["schema"] == "css.score/v1"
    assert (
        record["org_id"],
        record["kind"],
        record["period"],
        record["as_of"],
        record["revision"],
    ) == ("org-1", "monthly", "2026-01", "2026-02-01T00:00:00Z", 3)
    assert record["catalog"] == {"name": "default", "version": "1.0.0"}
    assert list(record["categories"]) == [
        "product_adoption",
        "customer_expertise",
        "technical_health",
    ]
    assert [c["weight"] for c in record["categories"].values()] == [5, 2, 3]
    assert [s["id"] for s in record["signals"]] == [s.id for s in CAT.catalog.signals]
    for entry in record["signals"]:
        assert list(entry) == [
            "id",
            "kind",
            "category",
            "group",
            "score",
            "band",
            "status",
            "inputs",
            "projected",
        ]


def test_live_header_and_as_of_milliseconds() -> None:
    state = fold([*FULL_ORG, ev("coaching.attended", "2026-01-20T10:11:12.345678Z")])
    record = live_record(CAT, state)
    assert (record["kind"], record["period"], record["as_of"], record["revision"]) == (
        "live",
        "2026-01",
        "2026-01-20T10:11:12.345Z",
        0,
    )


def test_statuses_inputs_and_bands() -> None:
    record = monthly_record(CAT, fold(FULL_ORG), month("2026-01"))
    by_id = {s["id"]: s for s in record["signals"]}
    assert by_id["field_service.license_activation"] == {
        "id": "field_service.license_activation",
        "kind": "ratio",
        "category": "product_adoption",
        "group": "field_service",
        "score": None,
        "band": None,
        "status": "not_applicable",
        "inputs": {},
        "projected": False,
    }
    assert by_id["sales_cloud.license_activation"]["inputs"] == {"num": 70, "den": 100}
    assert by_id["sales_cloud.license_activation"]["band"] == "excellent"
    assert by_id["service_cloud.case_growth"]["status"] == "no_data"
    assert by_id["platform.page_performance"]["inputs"] == {"mean": 2000.25}
    assert by_id["platform.prom_alerts"]["inputs"] == {"points": 25}
    assert by_id["platform.event_monitoring"]["inputs"] == {"value": True}
    assert record["categories"]["product_adoption"]["groups"]["commerce_cloud"] is None


@pytest.mark.parametrize(
    ("score", "label"),
    [
        (0, "fair"),
        (30, "fair"),
        (31, "good"),
        (60, "good"),
        (61, "excellent"),
        (100, "excellent"),
        (None, None),
    ],
)
def test_band(score: int | None, label: str | None) -> None:
    assert band(score) == label


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Fraction(1432), 1432),
        (Fraction(3, 2), 1.5),
        (Fraction(2, 3), 0.666667),
        (Fraction(1, 8_000_000), 0),
        (Fraction(5, 10_000_000), 0),  # 0.0000005 -> even 0
        (Fraction(15, 10_000_000), 0.000002),
        (Fraction(25, 10_000_000), 0.000002),
        (Fraction(-7, 2), -3.5),
        (Fraction(19999999, 10_000_000), 2),
    ],
)
def test_output_number_rounds_half_even_to_6_decimals(value: Fraction, expected: Any) -> None:
    result = output_number(value)
    assert result == expected
    assert type(result) is type(expected)


@given(st.fractions(min_value=-(10**6), max_value=10**6))
def test_output_number_is_within_half_a_micro(value: Fraction) -> None:
    result = output_number(value)
    assert abs(Fraction(repr(result)) - value) <= Fraction(1, 2_000_000)
    if isinstance(result, float):
        # At most 6 decimals, whatever notation the shortest repr uses (1e-05).
        assert Decimal(repr(result)).as_tuple().exponent >= -6


def test_trending_compares_with_previous_month() -> None:
    state = fold(FULL_ORG)
    record = monthly_record(CAT, state, month("2026-01"))
    previous = monthly_record(CAT, state, month("2025-12"))
    before = {s["id"]: s["score"] for s in previous["signals"]}
    expected = sorted(
        (
            (s["score"] - before[s["id"]], s["id"])
            for s in record["signals"]
            if s["score"] is not None
            and before[s["id"]] is not None
            and s["score"] != before[s["id"]]
        ),
        key=lambda c: (-abs(c[0]), c[1]),
    )[:5]
    assert record["trending"] == [{"id": i, "change": c} for c, i in expected]
    assert record["trending"][0] == {"id": "platform.event_monitoring", "change": 100}
    assert {"id": "platform.prom_alerts", "change": -25} in record["trending"]
    assert record["explain"]["previous_overall"] == previous["overall"]["score"]
    assert record["explain"]["change"] == (
        record["overall"]["score"] - previous["overall"]["score"]
    )
    # The first month has nothing to compare with.
    assert previous["trending"] == []
    assert previous["explain"]["previous_overall"] is None
    assert previous["explain"]["change"] is None


def test_live_trending_compares_with_the_previous_month_even_unclosed() -> None:
    state = fold(FULL_ORG)
    record = live_record(CAT, state)
    monthly = monthly_record(CAT, state, month("2026-01"))
    assert record["trending"] == monthly["trending"]


def test_recommendations_rank_by_gain_per_effort() -> None:
    state = fold(FULL_ORG)
    record = monthly_record(CAT, state, month("2026-01"))
    scores = [s["score"] for s in record["signals"]]
    overall = record["overall"]["score"]
    ranked = []
    for index, (sig, entry) in enumerate(zip(CAT.catalog.signals, record["signals"], strict=True)):
        if entry["status"] == "not_applicable" or (entry["score"] or 0) >= 100:
            continue
        boosted = list(scores)
        boosted[index] = 100
        gain = (Totals(CAT.rollup, boosted).overall or 0) - (overall or 0)
        if gain > 0:
            ranked.append((Fraction(gain, sig.effort_points), gain, sig.id, sig))
    ranked.sort(key=lambda r: (-r[0], -r[1], r[2]))
    assert record["recommendations"] == [
        {"signal": s.id, "gain": g, "effort": s.effort, "action": s.action}
        for _, g, _, s in ranked[:3]
    ]
    assert 1 <= len(record["recommendations"]) <= 3


def test_recommendations_include_no_data_signals_and_tie_break_by_id() -> None:
    def sig(sid: str, effort: str) -> dict[str, Any]:
        return {
            "id": sid,
            "kind": "config",
            "category": "customer_expertise",
            "group": "g",
            "effort": effort,
            "action": f"do {sid}",
            "events": {"types": ["config.changed"], "where": {"setting": sid}},
        }

    catalog = compile_catalog(
        catalog_from_dict(
            {
                "name": "t",
                "version": "1",
                "signals": [sig("b", "low"), sig("a", "low"), sig("c", "high"), sig("d", "low")],
            }
        )
    )
    state = fold(
        [
            ev("config.changed", "2026-01-01T00:00:00Z", setting="d", value=100),
            ev("config.changed", "2026-01-01T00:00:00Z", setting="c", value=0),
        ],
        catalog,
    )
    record = live_record(catalog, state)
    # c = 0, d = 100, a and b no data: overall 50. a or b at 100 -> 66 (gain 16, effort 1);
    # c at 100 -> 100 (gain 50, effort 4 -> 12.5).
    assert record["overall"]["score"] == 50
    assert [(r["signal"], r["gain"], r["effort"]) for r in record["recommendations"]] == [
        ("a", 16, "low"),
        ("b", 16, "low"),
        ("c", 50, "high"),
    ]


def test_explain_points_are_effective_weights() -> None:
    state = fold(FULL_ORG)
    record = monthly_record(CAT, state, month("2026-01"))
    scores = [s["score"] for s in record["signals"]]
    shares = effective_weights(CAT.catalog, scores)
    taking_part = [s for s in record["signals"] if s["score"] is not None]
    contributions = record["explain"]["contributions"]
    assert [c["signal"] for c in contributions] == [s["id"] for s in taking_part]
    total_share = sum((s for s in shares if s is not None), Fraction(0))
    assert total_share == 1
    for c, share, score in zip(
        contributions,
        [s for s in shares if s is not None],
        [s for s in scores if s is not None],
        strict=True,
    ):
        assert c["points"] == output_number(score * share)
    # Points need not add up to the overall (each level is floored) but equal the exact sum.
    assert sum(c["points"] for c in contributions) == pytest.approx(
        float(sum(Fraction(s) * w for s, w in zip(scores, shares, strict=True) if w is not None)),
        abs=1e-5,
    )


def test_explain_changes_rank_each_signals_points_since_the_month_before() -> None:
    lines = list(generate_lines(8, 5, seed=21, now="2025-06-02T00:00:00Z"))
    now = parse_time_ms("2025-06-02T00:00:00Z")
    result = score_lines(
        lines, DEFAULT_CATALOG, grace_ms=HOUR_MS, dedup_horizon_ms=DAY_MS, now_ms=now
    )
    by_key = {(r["org_id"], r["kind"], r["period"]): r for r in result.records}
    checked = 0
    for record in result.records:
        explain = record["explain"]
        changes = explain["changes"]
        if explain["previous_overall"] is None and record["kind"] == "monthly":
            first = min(p for (o, k, p) in by_key if o == record["org_id"] and k == "monthly")
            if record["period"] == first:
                assert changes == []  # no month before the org's first
                continue
        points = {c["signal"]: c["points"] for c in explain["contributions"]}
        order = [s.id for s in DEFAULT_CATALOG.signals]
        sizes = [abs(c["points_change"]) for c in changes]
        assert sizes == sorted(sizes, reverse=True)
        for c in changes:
            assert c["points"] == points.get(c["signal"])
            now_points, then = c["points"] or 0, c["previous_points"] or 0
            assert abs(c["points_change"] - (now_points - then)) < 2e-6  # each rounded
        for a, b in itertools.pairwise(changes):
            if abs(a["points_change"]) == abs(b["points_change"]):
                assert order.index(a["signal"]) < order.index(b["signal"])
        previous = by_key.get((record["org_id"], "monthly", _month_before(record["period"])))
        if record["kind"] == "monthly" and previous is not None:
            then_points = {c["signal"]: c["points"] for c in previous["explain"]["contributions"]}
            for c in changes:
                assert c["previous_points"] == then_points.get(c["signal"])
            taking_part = set(points) | set(then_points)
            assert {c["signal"] for c in changes} == taking_part
            checked += 1
    assert checked > 10


def _month_before(period: str) -> str:
    year, month = (int(part) for part in period.split("-"))
    return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"
