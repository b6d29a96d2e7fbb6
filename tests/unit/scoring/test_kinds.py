"""Per-kind tables (spec 3, 4, 9): month lengths, leap years, year rollover, live run
rate, recency, error-free days, threshold average, deduction, config, policy zero."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from scoring.catalog import catalog_from_dict
from scoring.compiled import compile_catalog
from scoring.record import live_record, monthly_record
from scoring.timeutil import DAY_MS, days_in_month, month_start_ms, parse_time_ms
from tests.scoring_support import DEFAULT_COMPILED, ev, fold, month, signal

CAT = DEFAULT_COMPILED
PLATFORM = ev("org.profile", "2020-01-01T00:00:00Z", products=["platform", "service_cloud"])


# ----------------------------------------------------------------- error_free_days


@pytest.mark.parametrize(
    ("period", "days"),
    [("2026-02", 28), ("2024-02", 29), ("2026-04", 30), ("2026-01", 31), ("2025-12", 31)],
)
def test_error_free_days_monthly_uses_every_day_of_the_month(period: str, days: int) -> None:
    events = [
        PLATFORM,
        ev("error.occurred", f"{period}-01T00:00:00Z", source="apex"),
        ev("error.occurred", f"{period}-01T23:59:59.999Z", source="apex", count=5),
        ev("error.occurred", f"{period}-{days:02d}T23:59:59.999Z", source="apex"),
        ev("error.occurred", f"{period}-10T00:00:00Z", source="flow"),
    ]  # not apex
    entry = signal(
        monthly_record(CAT, fold(events), month(period)), "platform.apex_error_free_days"
    )
    assert entry["inputs"] == {"error_days": 2, "days_considered": days}
    assert entry["score"] == (100 * (days - 2)) // days


@pytest.mark.parametrize(
    ("live_time", "considered"),
    [
        ("2026-03-01T00:00:00Z", 1),
        ("2026-03-01T23:59:59.999Z", 1),
        ("2026-03-02T00:00:00Z", 2),
        ("2026-03-31T23:59:59Z", 31),
        ("2024-02-29T12:00:00Z", 29),
    ],
)
def test_error_free_days_live_counts_days_to_date(live_time: str, considered: int) -> None:
    events = [PLATFORM, ev("error.occurred", live_time, source="apex")]
    entry = signal(live_record(CAT, fold(events)), "platform.apex_error_free_days")
    assert entry["inputs"] == {"error_days": 1, "days_considered": considered}
    assert entry["score"] == (100 * (considered - 1)) // considered


def test_error_event_after_month_close_is_not_in_that_month() -> None:
    events = [PLATFORM, ev("error.occurred", "2026-02-01T00:00:00Z", source="apex")]
    entry = signal(
        monthly_record(CAT, fold(events), month("2026-01")), "platform.apex_error_free_days"
    )
    assert entry["inputs"]["error_days"] == 0


def test_twenty_three_59_59_9999999_stays_in_its_day_and_month() -> None:
    events = [PLATFORM, ev("error.occurred", "2026-01-31T23:59:59.9999999Z", source="apex")]
    state = fold(events)
    assert (
        signal(monthly_record(CAT, state, month("2026-01")), "platform.apex_error_free_days")[
            "inputs"
        ]["error_days"]
        == 1
    )


# ----------------------------------------------------------------- growth


def _growth_events(counts: dict[str, int], product: str = "field_service") -> list[Any]:
    events = [
        ev("license.purchased", f"{next(iter(counts))}-01T00:00:00Z", product=product, quantity=1)
    ]
    events += [
        ev("work_order.created", f"{p}-05T00:00:00Z", product=product, count=n)
        for p, n in counts.items()
        if n
    ]
    return events


def test_growth_avg12_counts_only_months_since_first_seen() -> None:
    # First seen 2025-10: baseline of 2026-01 = mean(Oct, Nov, Dec) = (10 + 0 + 20) / 3.
    events = _growth_events({"2025-10": 10, "2025-11": 0, "2025-12": 20, "2026-01": 12})
    entry = signal(
        monthly_record(CAT, fold(events), month("2026-01")), "field_service.work_order_growth"
    )
    assert entry["inputs"] == {"last": 12, "baseline": 10}
    assert entry["score"] == 60


def test_growth_no_history_month_is_no_data_and_excluded() -> None:
    events = _growth_events({"2026-01": 12})
    record = monthly_record(CAT, fold(events), month("2026-01"))
    entry = signal(record, "field_service.work_order_growth")
    assert (entry["status"], entry["score"], entry["inputs"]) == ("no_data", None, {"last": 12})
    # Only the licence ratio (0 / 1) is left in the group.
    assert record["categories"]["product_adoption"]["groups"]["field_service"] == 0


@pytest.mark.parametrize(("last", "expected"), [(0, 0), (3, 100)])
def test_growth_zero_baseline(last: int, expected: int) -> None:
    events = _growth_events({"2025-12": 0, "2026-01": last})
    entry = signal(
        monthly_record(CAT, fold(events), month("2026-01")), "field_service.work_order_growth"
    )
    assert entry["score"] == expected
    assert entry["inputs"]["baseline"] == 0


def test_growth_non_integral_baseline_rounds_half_even_to_6_decimals() -> None:
    events = _growth_events({"2025-11": 1, "2025-12": 1, "2026-01": 0, "2026-02": 0})
    # Baseline of 2026-02 = (1 + 1 + 0) / 3 = 0.666666666... -> 0.666667.
    entry = signal(
        monthly_record(CAT, fold(events), month("2026-02")), "field_service.work_order_growth"
    )
    assert entry["inputs"] == {"last": 0, "baseline": 0.666667}
    assert entry["score"] == 0


def test_growth_yoy_year_rollover_needs_month_minus_12() -> None:
    base = [ev("license.purchased", "2025-02-01T00:00:00Z", product="service_cloud", quantity=1)]
    cases = [ev("case.created", "2026-01-05T00:00:00Z", product="service_cloud", count=4)]
    # 2026-01 - 12 = 2025-01, before the first month (2025-02): no data.
    entry = signal(
        monthly_record(CAT, fold(base + cases), month("2026-01")), "service_cloud.case_growth"
    )
    assert entry["status"] == "no_data"
    # A month later 2025-02 exists (count 0) -> baseline 0, last 0 -> 0.
    entry = signal(
        monthly_record(CAT, fold(base + cases), month("2026-02")), "service_cloud.case_growth"
    )
    assert (entry["status"], entry["score"], entry["inputs"]) == (
        "ok",
        0,
        {"last": 0, "baseline": 0},
    )


@pytest.mark.parametrize(
    ("live_time", "elapsed_days"),
    [
        ("2026-02-15T00:00:00Z", Fraction(14)),
        ("2026-02-01T06:00:00Z", Fraction(1)),  # elapsed at least 1 day
        ("2026-02-03T12:00:00Z", Fraction(5, 2)),
        ("2024-02-10T00:00:00Z", Fraction(9)),  # leap February: 29 days
    ],
)
def test_live_growth_uses_run_rate(live_time: str, elapsed_days: Fraction) -> None:
    year = live_time[:4]
    prev_year = str(int(year) - 1)
    events = [
        ev("license.purchased", f"{prev_year}-02-01T00:00:00Z", product="field_service", quantity=1)
    ]
    events += [
        ev(
            "work_order.created",
            f"{prev_year}-{m:02d}-05T00:00:00Z",
            product="field_service",
            count=30,
        )
        for m in range(2, 13)
    ]
    events.append(
        ev("work_order.created", f"{year}-01-05T00:00:00Z", product="field_service", count=30)
    )
    events.append(ev("work_order.created", live_time, product="field_service", count=7))
    state = fold(events)
    entry = signal(live_record(CAT, state), "field_service.work_order_growth")
    dim = days_in_month(month(live_time[:7]))
    last = Fraction(7 * dim) / elapsed_days
    assert entry["projected"] is True
    assert entry["inputs"]["baseline"] == 30
    assert entry["inputs"]["last"] == pytest.approx(float(last), abs=5e-7)
    assert entry["score"] == min(100, int(50 * last / 30))
    # The monthly record of the previous month is never projected.
    monthly = signal(
        monthly_record(CAT, state, month(live_time[:7]) - 1), "field_service.work_order_growth"
    )
    assert monthly["projected"] is False


# ----------------------------------------------------------------- ratio


def test_licence_gauge_is_signed_running_sum_and_latest_purchase() -> None:
    events = [
        ev("license.purchased", "2025-01-01T00:00:00Z", product="sales_cloud", quantity=50),
        ev("license.activated", "2025-01-02T00:00:00Z", product="sales_cloud", count=40),
        ev("license.deactivated", "2025-03-02T00:00:00Z", product="sales_cloud", count=10),
        ev("license.deactivated", "2025-03-03T00:00:00Z", product="sales_cloud"),  # count 1
        ev("license.activated", "2025-03-04T00:00:00Z", product="service_cloud", count=99),
        ev("license.purchased", "2025-04-01T00:00:00Z", product="sales_cloud", quantity=20),
        ev("license.purchased", "2025-04-01T00:00:00Z", product="sales_cloud", quantity=30),
    ]
    state = fold(events)
    expected = {
        "2025-01": (80, 40, 50),
        "2025-02": (80, 40, 50),
        "2025-03": (58, 29, 50),
        "2025-04": (96, 29, 30),
    }  # equal times: the later arrival (30) wins
    for period, (score, num, den) in expected.items():
        entry = signal(monthly_record(CAT, state, month(period)), "sales_cloud.license_activation")
        assert (entry["score"], entry["inputs"]) == (score, {"num": num, "den": den}), period


def test_ratio_is_clamped_and_zero_denominator_is_no_data() -> None:
    events = [
        ev("license.purchased", "2025-01-01T00:00:00Z", product="sales_cloud", quantity=0),
        ev("org.profile", "2025-01-01T00:00:00Z", products=["sales_cloud"]),
        ev("license.deactivated", "2025-01-02T00:00:00Z", product="sales_cloud", count=3),
    ]
    entry = signal(
        monthly_record(CAT, fold(events), month("2025-01")), "sales_cloud.license_activation"
    )
    assert (entry["status"], entry["score"], entry["inputs"]) == (
        "no_data",
        None,
        {"num": -3, "den": 0},
    )
    events.append(
        ev("license.purchased", "2025-02-01T00:00:00Z", product="sales_cloud", quantity=2)
    )
    entry = signal(
        monthly_record(CAT, fold(events), month("2025-02")), "sales_cloud.license_activation"
    )
    assert entry["score"] == 0  # -3 / 2 clamps to 0
    events.append(ev("license.activated", "2025-03-01T00:00:00Z", product="sales_cloud", count=10))
    entry = signal(
        monthly_record(CAT, fold(events), month("2025-03")), "sales_cloud.license_activation"
    )
    assert entry["score"] == 100  # 7 / 2 caps at 100


def test_credit_ratio_sums_the_year_exactly() -> None:
    events = [
        ev(
            "credits.provisioned",
            "2025-01-15T00:00:00Z",
            product="data_cloud",
            credits=Fraction("0.3"),
        ),
        ev(
            "credits.consumed",
            "2025-01-16T00:00:00Z",
            product="data_cloud",
            credits=Fraction("0.1"),
        ),
        ev("credits.consumed", "2025-02-16T00:00:00Z", product="data_cloud", credits=0.2),
    ]
    state = fold(events)
    entry = signal(monthly_record(CAT, state, month("2025-02")), "data_cloud.credit_consumption")
    # 0.1 + 0.2 = 0.3 exactly: 100 %, never 99.
    assert (entry["score"], entry["inputs"]) == (100, {"num": 0.3, "den": 0.3})
    # 2026-01: the year is 2025-02..2026-01, January's provisioning has left it.
    entry = signal(monthly_record(CAT, state, month("2026-01")), "data_cloud.credit_consumption")
    assert (entry["status"], entry["inputs"]) == ("no_data", {"num": 0.2, "den": 0})
    # Ownership through provisioning is permanent.
    assert entry["status"] != "not_applicable"


# ----------------------------------------------------------------- indicators


@pytest.mark.parametrize(
    ("used_at", "expected"),
    [
        ("2026-01-02T00:00:00Z", 100),  # exactly T - 30 days (T = 2026-02-01): inside
        ("2026-01-01T23:59:59.999Z", 0),  # just before the window
        ("2026-01-31T23:59:59.999Z", 100),
    ],
)
def test_binary_window_monthly_boundaries(used_at: str, expected: int) -> None:
    events = [PLATFORM, ev("feature.used", used_at, product="service_cloud", feature="swarming")]
    entry = signal(monthly_record(CAT, fold(events), month("2026-01")), "service_cloud.swarming")
    assert entry["score"] == expected
    assert entry["inputs"] == {"count_in_window": 1 if expected else 0}


def test_binary_window_live_is_inclusive_of_t_minus_30_days() -> None:
    used = ev(
        "feature.used", "2026-03-01T10:00:00.500Z", product="service_cloud", feature="swarming"
    )
    exactly = parse_time_ms("2026-03-01T10:00:00.500Z") + 30 * DAY_MS
    later = ev("case.created", "2026-03-31T10:00:00.500Z", product="service_cloud")
    assert later.time_ms == exactly
    entry = signal(live_record(CAT, fold([PLATFORM, used, later])), "service_cloud.swarming")
    assert entry["score"] == 100
    one_ms_later = ev("case.created", "2026-03-31T10:00:00.501Z", product="service_cloud")
    entry = signal(live_record(CAT, fold([PLATFORM, used, one_ms_later])), "service_cloud.swarming")
    assert entry["score"] == 0


def test_tiers_count_the_twelve_calendar_months() -> None:
    events = [
        ev("learning.completed", f"2025-{m:02d}-28T00:00:00Z", kind="badge") for m in range(1, 13)
    ]
    events.append(ev("learning.completed", "2026-01-01T00:00:00Z", kind="trail"))
    state = fold(events)
    assert signal(monthly_record(CAT, state, month("2025-12")), "learning.trailhead")["inputs"] == {
        "count": 12
    }
    # 2026-01: the year is 2025-02..2026-01 -> 11 + 1.
    entry = signal(monthly_record(CAT, state, month("2026-01")), "learning.trailhead")
    assert (entry["score"], entry["inputs"]) == (75, {"count": 12})
    entry = signal(monthly_record(CAT, state, month("2026-02")), "learning.trailhead")
    assert (entry["score"], entry["inputs"]) == (75, {"count": 11})
    # 2026-07: 2025-08..2025-12 (5 badges) + the trail = 6 -> tier [5, 50].
    entry = signal(monthly_record(CAT, state, month("2026-07")), "learning.trailhead")
    assert (entry["score"], entry["inputs"]) == (50, {"count": 6})


# ----------------------------------------------------------------- recency


@pytest.mark.parametrize(
    ("attended", "days", "expected"),
    [
        ("2026-01-31T00:00:00Z", 1, 100),
        ("2025-11-03T00:00:00Z", 90, 100),
        ("2025-11-02T23:59:59Z", 90, 100),
        ("2025-11-02T00:00:00Z", 91, 50),
        ("2025-08-04T00:00:00Z", 181, 0),
    ],
)
def test_recency_days_since_and_tiers(attended: str, days: int, expected: int) -> None:
    events = [ev("coaching.attended", attended)]
    entry = signal(monthly_record(CAT, fold(events), month("2026-01")), "success.expert_coaching")
    t = month_start_ms(month("2026-02"))
    assert days == (t - parse_time_ms(attended)) // DAY_MS
    assert (entry["score"], entry["inputs"]) == (expected, {"days_since": days})


def test_recency_never_seen_scores_zero_and_ignores_future_events() -> None:
    events = [
        ev("learning.completed", "2026-01-01T00:00:00Z", kind="badge"),
        ev("coaching.attended", "2026-02-01T00:00:00Z"),
    ]
    entry = signal(monthly_record(CAT, fold(events), month("2026-01")), "success.expert_coaching")
    assert (entry["status"], entry["score"], entry["inputs"]) == ("ok", 0, {"days_since": None})


# ----------------------------------------------------------------- threshold, deduction, config


def test_threshold_average_weighted_by_count() -> None:
    events = [
        PLATFORM,
        ev("performance.sampled", "2026-01-02T00:00:00Z", metric="ept_ms", value=1000, count=3),
        ev(
            "performance.sampled", "2026-01-03T00:00:00Z", metric="ept_ms", value=Fraction("4000.5")
        ),
        ev("performance.sampled", "2026-01-03T00:00:00Z", metric="other", value=9e9),
    ]
    entry = signal(monthly_record(CAT, fold(events), month("2026-01")), "platform.page_performance")
    mean = Fraction(3000 + Fraction("4000.5"), 4)
    assert entry["inputs"] == {"mean": float(mean)}
    assert entry["score"] == int(100 * (5000 - mean) / 3500)
    empty = signal(monthly_record(CAT, fold(events), month("2026-02")), "platform.page_performance")
    assert (empty["status"], empty["score"], empty["inputs"]) == ("no_data", None, {})


@pytest.mark.parametrize(
    ("value", "expected"), [(1500, 100), (1000, 100), (5000, 0), (9000, 0), (3250, 50)]
)
def test_threshold_average_clamps(value: int, expected: int) -> None:
    events = [
        PLATFORM,
        ev("performance.sampled", "2026-01-02T00:00:00Z", metric="ept_ms", value=value),
    ]
    assert (
        signal(monthly_record(CAT, fold(events), month("2026-01")), "platform.page_performance")[
            "score"
        ]
        == expected
    )


def test_deduction_points_per_alert_floored_at_zero() -> None:
    alerts = ["warning", "critical", "warning"]
    events = [PLATFORM] + [
        ev("alert.triggered", f"2026-01-0{i + 2}T00:00:00Z", severity=s, metric="m")
        for i, s in enumerate(alerts)
    ]
    state = fold(events)
    entry = signal(monthly_record(CAT, state, month("2026-01")), "platform.prom_alerts")
    assert (entry["score"], entry["inputs"]) == (55, {"points": 45})
    events += [
        ev("alert.triggered", "2026-01-20T00:00:00Z", severity="critical", metric="m")
        for _ in range(3)
    ]
    entry = signal(monthly_record(CAT, fold(events), month("2026-01")), "platform.prom_alerts")
    assert (entry["score"], entry["inputs"]) == (0, {"points": 120})
    entry = signal(monthly_record(CAT, fold(events), month("2026-02")), "platform.prom_alerts")
    assert (entry["score"], entry["inputs"]) == (100, {"points": 0})


@pytest.mark.parametrize(
    ("setting", "value", "expected", "shown"),
    [
        ("event_monitoring_enabled", True, 100, True),
        ("event_monitoring_enabled", False, 0, False),
        ("event_monitoring_enabled", 42, 42, 42),  # a number on a boolean setting
        ("security_health_check_score", Fraction("72.9"), 72, 72.9),
        ("security_health_check_score", True, 100, True),  # a boolean on a numeric setting
        ("security_health_check_score", 250, 100, 250),
        ("security_health_check_score", -5, 0, -5),
    ],
)
def test_config_latest_value(setting: str, value: object, expected: int, shown: object) -> None:
    signal_id = {
        "event_monitoring_enabled": "platform.event_monitoring",
        "security_health_check_score": "platform.security_health_check",
    }[setting]
    events = [
        PLATFORM,
        ev("config.changed", "2026-01-02T00:00:00Z", setting=setting, value=0),
        ev("config.changed", "2026-01-03T00:00:00Z", setting=setting, value=value),
    ]
    entry = signal(monthly_record(CAT, fold(events), month("2026-01")), signal_id)
    assert (entry["score"], entry["inputs"]) == (expected, {"value": shown})
    assert type(entry["inputs"]["value"]) is type(shown)


def test_config_never_set_is_no_data_and_policy_zero_scores_it() -> None:
    state = fold([PLATFORM])
    entry = signal(monthly_record(CAT, state, month("2020-01")), "platform.event_monitoring")
    assert (entry["status"], entry["score"]) == ("no_data", None)
    data = _default_catalog_dict()
    for raw in data["signals"]:
        if raw["id"] == "platform.event_monitoring":
            raw["policy"] = "zero"
    catalog = compile_catalog(catalog_from_dict(data))
    record = monthly_record(catalog, state, month("2020-01"))
    entry = signal(record, "platform.event_monitoring")
    assert (entry["status"], entry["score"], entry["band"]) == ("no_data", 0, "fair")
    assert record["categories"]["technical_health"]["groups"]["observability"] == 0


def _default_catalog_dict() -> dict[str, Any]:
    import json
    from importlib import resources

    text = resources.files("streams").joinpath("default_catalog.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data
