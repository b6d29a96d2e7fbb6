"""Every golden vector of spec section 2, through the fold and the records."""

from __future__ import annotations

import pytest

from scoring.catalog import catalog_from_dict
from scoring.compiled import compile_catalog
from scoring.record import monthly_record
from scoring.rollup import Totals
from tests.scoring_support import DEFAULT_COMPILED, ev, fold, month, signal


def _months(first: str, count: int) -> list[str]:
    start = month(first)
    return [f"{(start + i) // 12:04d}-{(start + i) % 12 + 1:02d}" for i in range(count)]


def test_ratio_67_activated_of_100_purchased_scores_67() -> None:
    state = fold(
        [
            ev("license.purchased", "2026-01-02T00:00:00Z", product="sales_cloud", quantity=100),
            ev("license.activated", "2026-01-03T00:00:00Z", product="sales_cloud", count=67),
        ]
    )
    record = monthly_record(DEFAULT_COMPILED, state, month("2026-01"))
    entry = signal(record, "sales_cloud.license_activation")
    assert (entry["score"], entry["inputs"]) == (67, {"num": 67, "den": 100})


@pytest.mark.parametrize(
    ("last", "baseline", "expected"),
    [(693, 564, 61), (499, 564, 44), (15, 12, 62), (13, 15, 43)],
)
def test_growth_avg12_golden(last: int, baseline: int, expected: int) -> None:
    history = _months("2025-01", 12)
    events = [ev("license.purchased", "2025-01-01T00:00:00Z", product="field_service", quantity=5)]
    events += [
        ev("work_order.created", f"{p}-10T00:00:00Z", product="field_service", count=baseline)
        for p in history
    ]
    events.append(
        ev("work_order.created", "2026-01-20T00:00:00Z", product="field_service", count=last)
    )
    record = monthly_record(DEFAULT_COMPILED, fold(events), month("2026-01"))
    entry = signal(record, "field_service.work_order_growth")
    assert entry["inputs"] == {"last": last, "baseline": baseline}
    assert entry["score"] == expected == (50 * last) // baseline


@pytest.mark.parametrize(
    ("last", "baseline", "expected"), [(693, 564, 61), (499, 564, 44), (15, 12, 62), (13, 15, 43)]
)
def test_growth_yoy_golden(last: int, baseline: int, expected: int) -> None:
    events = [
        ev("license.purchased", "2025-01-01T00:00:00Z", product="service_cloud", quantity=5),
        ev("case.created", "2025-01-10T00:00:00Z", product="service_cloud", count=baseline),
        # A busy month in between must not enter a year-over-year baseline.
        ev("case.created", "2025-06-10T00:00:00Z", product="service_cloud", count=10_000),
        ev("case.created", "2026-01-10T00:00:00Z", product="service_cloud", count=last),
    ]
    record = monthly_record(DEFAULT_COMPILED, fold(events), month("2026-01"))
    entry = signal(record, "service_cloud.case_growth")
    assert (entry["score"], entry["inputs"]) == (expected, {"last": last, "baseline": baseline})


@pytest.mark.parametrize(("reviews", "expected"), [(0, 0), (1, 50), (2, 100), (7, 100)])
def test_threshold_review_tiers(reviews: int, expected: int) -> None:
    events = [ev("learning.completed", "2026-01-01T00:00:00Z", kind="badge")]
    events += [
        ev(
            "review.completed",
            f"2026-01-{2 + i:02d}T00:00:00Z",
            program="proactive_monitoring",
            review="threshold",
        )
        for i in range(reviews)
    ]
    # Other programs and reviews do not match the signal's filter.
    events.append(
        ev("review.completed", "2026-01-20T00:00:00Z", program="other", review="threshold")
    )
    record = monthly_record(DEFAULT_COMPILED, fold(events), month("2026-01"))
    entry = signal(record, "success.prom_threshold_reviews")
    assert (entry["score"], entry["inputs"]) == (expected, {"count": reviews})


@pytest.mark.parametrize(("used", "expected"), [(True, 100), (False, 0)])
def test_binary_indicator_used_or_not(used: bool, expected: int) -> None:
    events = [ev("org.profile", "2026-01-01T00:00:00Z", products=["service_cloud"])]
    if used:
        events.append(
            ev("feature.used", "2026-01-20T00:00:00Z", product="service_cloud", feature="swarming")
        )
    events.append(
        ev("feature.used", "2026-01-21T00:00:00Z", product="service_cloud", feature="other")
    )
    record = monthly_record(DEFAULT_COMPILED, fold(events), month("2026-01"))
    assert signal(record, "service_cloud.swarming")["score"] == expected


def _three_category_catalog() -> dict[str, object]:
    def sig(sid: str, category: str, group: str) -> dict[str, object]:
        return {
            "id": sid,
            "kind": "config",
            "category": category,
            "group": group,
            "effort": "low",
            "action": "a",
            "events": {"types": ["config.changed"], "where": {"setting": sid}},
        }

    return {
        "name": "t",
        "version": "1",
        "signals": [
            sig("pa", "product_adoption", "p"),
            sig("ce", "customer_expertise", "c"),
            sig("th", "technical_health", "t"),
        ],
    }


@pytest.mark.parametrize(
    ("scores", "overall"),
    [((61, 44, 70), 60), ((61, 44, None), 56), ((None, None, None), None), ((None, 44, None), 44)],
)
def test_overall_weights_5_2_3_renormalised(
    scores: tuple[int | None, ...], overall: int | None
) -> None:
    compiled = compile_catalog(catalog_from_dict(_three_category_catalog()))
    totals = Totals(compiled.rollup, list(scores))
    assert totals.overall == overall
    if overall is not None:
        weights = [5, 2, 3]
        present = [(w, s) for w, s in zip(weights, scores, strict=True) if s is not None]
        assert overall == sum(w * s for w, s in present) // sum(w for w, _ in present)


def test_commerce_only_org_is_scored_5_to_2() -> None:
    # Owns only commerce_cloud (not a core product): technical health is unavailable.
    history = _months("2025-01", 12)
    events = [ev("org.profile", "2025-01-01T00:00:00Z", products=["commerce_cloud"])]
    events += [
        ev("order.placed", f"{p}-10T00:00:00Z", product="commerce_cloud", count=564)
        for p in history
    ]
    events.append(ev("order.placed", "2026-01-10T00:00:00Z", product="commerce_cloud", count=693))
    events.append(ev("learning.completed", "2026-01-11T00:00:00Z", kind="badge"))
    events.append(
        ev(
            "review.completed",
            "2026-01-12T00:00:00Z",
            program="proactive_monitoring",
            review="threshold",
        )
    )
    record = monthly_record(DEFAULT_COMPILED, fold(events), month("2026-01"))
    categories = record["categories"]
    assert categories["technical_health"]["available"] is False
    assert categories["technical_health"]["score"] is None
    assert categories["product_adoption"]["score"] == 61
    # success: reviews 50, coaching never -> 0 => 25; learning: 1 badge -> 25 => CE 25.
    assert categories["customer_expertise"]["score"] == 25
    assert record["overall"]["score"] == (5 * 61 + 2 * 25) // 7 == 50
