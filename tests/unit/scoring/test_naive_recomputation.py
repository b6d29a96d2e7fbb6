"""A naive oracle: every signal of the default catalog recomputed straight from the list
of accepted events (no buckets, no snapshots, Fractions only), compared with the records
of the fold for random inputs, pruned or not. Catches bucket, retention and number-type
mistakes that hand-written tables miss."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.events import Event
from scoring.fold import Outcome, apply_event, prune
from scoring.numbers import output_number
from scoring.record import live_record, monthly_record
from scoring.state import OrgState, state_from_dict, state_to_dict
from scoring.timeutil import DAY_MS, days_in_month, month_of, month_start_ms, parse_time_ms
from tests.scoring_support import DEFAULT_COMPILED

CAT = DEFAULT_COMPILED
H = 86_400_000
CORE = {"sales_cloud", "service_cloud", "field_service", "platform"}
BASE = parse_time_ms("2024-01-01T00:00:00Z")
PRODUCTS = [
    "sales_cloud",
    "service_cloud",
    "field_service",
    "data_cloud",
    "commerce_cloud",
    "platform",
]


def exact(value: Any) -> Fraction:
    return Fraction(repr(value)) if isinstance(value, float) else Fraction(value)


def count_of(e: Event) -> int:
    return int(e.data.get("count", 1))


def latest(events: list[tuple[int, Event]]) -> Event | None:
    """Greatest (time, arrival) among (seq, event) pairs."""
    best = max(events, key=lambda p: (p[1].time_ms, p[0]), default=None)
    return None if best is None else best[1]


def oracle_signals(
    accepted: list[tuple[int, Event]], month: int, t_ms: int, live: bool, first_month: int
) -> dict[str, tuple[str, int | None, dict[str, Any]]]:
    seen = [(s, e) for s, e in accepted if (e.time_ms <= t_ms if live else e.time_ms < t_ms)]
    events = [e for _, e in seen]

    def of(event_type: str, **where: Any) -> list[Event]:
        return [
            e
            for e in events
            if e.type == event_type and all(e.data.get(k) == v for k, v in where.items())
        ]

    def in_month(es: list[Event], m: int) -> list[Event]:
        return [e for e in es if month_of(e.time_ms) == m]

    def in_year(es: list[Event]) -> list[Event]:
        return [e for e in es if month - 11 <= month_of(e.time_ms) <= month]

    def owns(product: str) -> bool:
        for e in events:
            if e.data.get("product") == product and (
                (e.type == "license.purchased" and e.data["quantity"] > 0)
                or (e.type == "credits.provisioned" and exact(e.data["credits"]) > 0)
            ):
                return True
        profile = latest([(s, e) for s, e in seen if e.type == "org.profile"])
        return profile is not None and product in profile.data["products"]

    result: dict[str, tuple[str, int | None, dict[str, Any]]] = {}

    def ratio(sid: str, num: Fraction, den: Fraction) -> None:
        if den == 0:
            result[sid] = ("no_data", None, {"num": num, "den": den})
        else:
            result[sid] = ("ok", max(0, min(100, int(100 * num // den))), {"num": num, "den": den})

    for product in ("sales_cloud", "service_cloud", "field_service"):
        num = Fraction(
            sum(count_of(e) for e in of("license.activated", product=product))
            - sum(count_of(e) for e in of("license.deactivated", product=product))
        )
        purchase = latest(
            [
                (s, e)
                for s, e in seen
                if e.type == "license.purchased" and e.data["product"] == product
            ]
        )
        ratio(
            f"{product}.license_activation",
            num,
            Fraction(0 if purchase is None else purchase.data["quantity"]),
        )
    ratio(
        "data_cloud.credit_consumption",
        sum(
            (
                exact(e.data["credits"])
                for e in in_year(of("credits.consumed", product="data_cloud"))
            ),
            Fraction(0),
        ),
        sum(
            (
                exact(e.data["credits"])
                for e in in_year(of("credits.provisioned", product="data_cloud"))
            ),
            Fraction(0),
        ),
    )

    def growth(sid: str, es: list[Event], variant: str) -> None:
        def count(m: int) -> int:
            return sum(count_of(e) for e in in_month(es, m))

        last: Fraction = Fraction(count(month))
        if live:
            elapsed = max(Fraction(1), Fraction(t_ms - month_start_ms(month), DAY_MS))
            last = last * days_in_month(month) / elapsed
        if variant == "yoy":
            if month - 12 < first_month:
                result[sid] = ("no_data", None, {"last": last})
                return
            baseline = Fraction(count(month - 12))
        else:
            history = [m for m in range(month - 12, month) if m >= first_month]
            if not history:
                result[sid] = ("no_data", None, {"last": last})
                return
            baseline = Fraction(sum(count(m) for m in history), len(history))
        score = (100 if last > 0 else 0) if baseline == 0 else min(100, int(50 * last // baseline))
        result[sid] = ("ok", score, {"last": last, "baseline": baseline})

    growth(
        "field_service.work_order_growth",
        of("work_order.created", product="field_service"),
        "avg12",
    )
    growth("service_cloud.case_growth", of("case.created", product="service_cloud"), "yoy")
    growth("commerce_cloud.order_growth", of("order.placed", product="commerce_cloud"), "avg12")

    window = [
        e
        for e in of("feature.used", product="service_cloud", feature="swarming")
        if t_ms - 30 * DAY_MS <= e.time_ms
    ]
    result["service_cloud.swarming"] = (
        "ok",
        100 if window else 0,
        {"count_in_window": len(window)},
    )

    def tiers(sid: str, n: int, table: list[tuple[int, int]]) -> None:
        score = 0
        for minimum, s in table:
            if minimum <= n:
                score = s
        result[sid] = ("ok", score, {"count": n})

    tiers(
        "success.prom_threshold_reviews",
        len(in_year(of("review.completed", program="proactive_monitoring", review="threshold"))),
        [(0, 0), (1, 50), (2, 100)],
    )
    tiers(
        "learning.trailhead",
        len(in_year(of("learning.completed"))),
        [(0, 0), (1, 25), (5, 50), (10, 75), (20, 100)],
    )

    def recency(sid: str, es: list[Event], table: list[tuple[int, int]]) -> None:
        if not es:
            result[sid] = ("ok", 0, {"days_since": None})
            return
        days = (t_ms - max(e.time_ms for e in es)) // DAY_MS
        score = next((s for max_days, s in table if days <= max_days), 0)
        result[sid] = ("ok", score, {"days_since": days})

    recency("success.expert_coaching", of("coaching.attended"), [(90, 100), (180, 50)])
    recency("platform.tech_debt_review", of("customization.reviewed"), [(180, 100), (365, 50)])

    start = month_start_ms(month)
    considered = days_in_month(month)
    if live:
        considered = min(considered, (t_ms - start) // DAY_MS + 1)
    error_days = len(
        {
            (e.time_ms - start) // DAY_MS
            for e in in_month(of("error.occurred", source="apex"), month)
        }
    )
    result["platform.apex_error_free_days"] = (
        "ok",
        100 * (considered - error_days) // considered,
        {"error_days": error_days, "days_considered": considered},
    )

    samples = in_month(of("performance.sampled", metric="ept_ms"), month)
    if samples:
        mean = sum((exact(e.data["value"]) * count_of(e) for e in samples), Fraction(0)) / sum(
            count_of(e) for e in samples
        )
        score = max(0, min(100, int(100 * (5000 - mean) // 3500)))
        result["platform.page_performance"] = ("ok", score, {"mean": mean})
    else:
        result["platform.page_performance"] = ("no_data", None, {})

    points = sum(
        {"warning": 10, "critical": 25}[e.data["severity"]]
        for e in in_month(of("alert.triggered"), month)
    )
    result["platform.prom_alerts"] = ("ok", max(0, 100 - points), {"points": points})

    for sid, setting in (
        ("platform.event_monitoring", "event_monitoring_enabled"),
        ("platform.security_health_check", "security_health_check_score"),
    ):
        change = latest(
            [(s, e) for s, e in seen if e.type == "config.changed" and e.data["setting"] == setting]
        )
        if change is None:
            result[sid] = ("no_data", None, {})
            continue
        value = change.data["value"]
        if isinstance(value, bool):
            result[sid] = ("ok", 100 if value else 0, {"value": value})
        else:
            result[sid] = ("ok", max(0, min(100, int(exact(value) // 1))), {"value": exact(value)})

    for signal in CAT.catalog.signals:
        if signal.category == "product_adoption":
            applicable = owns(signal.group)
        elif signal.category == "technical_health":
            applicable = any(owns(p) for p in CORE)
        else:
            applicable = True
        if not applicable:
            result[signal.id] = ("not_applicable", None, {})
    return result


def _shown(inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v if v is None or isinstance(v, bool) else output_number(v) for k, v in inputs.items()
    }


@st.composite
def org_events(draw: st.DrawFn) -> list[Event]:
    events = []
    span_days = draw(st.sampled_from([35, 70, 400, 900]))  # dense windows and long ones
    for _ in range(draw(st.integers(1, 60))):
        t = BASE + draw(st.integers(0, span_days)) * DAY_MS + draw(st.integers(0, DAY_MS - 1))
        product = draw(st.sampled_from(PRODUCTS))
        kind = draw(st.integers(0, 15))
        data: dict[str, Any]
        if kind == 0:
            etype, data = (
                "org.profile",
                {"products": draw(st.lists(st.sampled_from(PRODUCTS), max_size=3))},
            )
        elif kind == 1:
            etype, data = (
                "license.purchased",
                {"product": product, "quantity": draw(st.integers(0, 40))},
            )
        elif kind in (2, 3):
            etype = "license.activated" if kind == 2 else "license.deactivated"
            data = {"product": product}
            if draw(st.booleans()):
                data["count"] = draw(st.integers(1, 25))
        elif kind == 4:
            etype = draw(st.sampled_from(["credits.provisioned", "credits.consumed"]))
            data = {
                "product": draw(st.sampled_from(["data_cloud", "platform"])),
                "credits": draw(st.sampled_from([0, 1, 0.1, 0.2, 2.5, 1234.567, 1e-7])),
            }
        elif kind == 5:
            etype = draw(st.sampled_from(["work_order.created", "case.created", "order.placed"]))
            data = {"product": product, "count": draw(st.integers(1, 9))}
        elif kind == 6:
            etype, data = (
                "feature.used",
                {
                    "product": draw(st.sampled_from(["service_cloud", "sales_cloud"])),
                    "feature": draw(st.sampled_from(["swarming", "other"])),
                },
            )
        elif kind == 7:
            etype, data = (
                "review.completed",
                {
                    "program": "proactive_monitoring",
                    "review": draw(st.sampled_from(["threshold", "other"])),
                },
            )
        elif kind == 8:
            etype, data = "learning.completed", {"kind": "badge"}
        elif kind == 9:
            etype, data = "coaching.attended", {}
        elif kind == 10:
            etype, data = (
                "error.occurred",
                {"source": draw(st.sampled_from(["apex", "flow"])), "count": 3},
            )
        elif kind == 11:
            etype, data = (
                "performance.sampled",
                {
                    "metric": "ept_ms",
                    "value": draw(st.sampled_from([0, 1500, 2000.25, 4999.9, 8000])),
                    "count": draw(st.integers(1, 4)),
                },
            )
        elif kind == 12:
            etype, data = (
                "alert.triggered",
                {"severity": draw(st.sampled_from(["warning", "critical"])), "metric": "m"},
            )
        elif kind == 13:
            etype, data = "customization.reviewed", {}
        else:
            etype, data = (
                "config.changed",
                {
                    "setting": draw(
                        st.sampled_from(["event_monitoring_enabled", "security_health_check_score"])
                    ),
                    "value": draw(st.sampled_from([True, False, 0, 64, 99.9, -3, 250])),
                },
            )
        event_id = f"id{draw(st.integers(0, 80))}"
        events.append(Event(etype, "org-1", "src", event_id, t, data))
    return events


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(org_events(), st.booleans())
def test_fold_records_match_the_naive_oracle(events: list[Event], pruning: bool) -> None:
    state = OrgState("org-1")
    accepted: list[tuple[int, Event]] = []
    for event in events:
        if apply_event(CAT, state, event, dedup_horizon_ms=H) is Outcome.ACCEPTED:
            accepted.append((len(accepted), event))
        if pruning:
            prune(state, dedup_horizon_ms=H)
    state = state_from_dict(json.loads(json.dumps(state_to_dict(state))))
    assert state.latest_time_ms is not None and state.first_month is not None
    latest_month = month_of(state.latest_time_ms)
    first_month = month_of(min(e.time_ms for _, e in accepted))
    assert state.first_month == first_month
    lowest = max(first_month, latest_month - 13) if pruning else first_month
    checks = [
        (monthly_record(CAT, state, m), m, month_start_ms(m + 1), False)
        for m in range(lowest, latest_month + 2)
    ]
    checks.append((live_record(CAT, state), latest_month, state.latest_time_ms, True))
    for record, month, t_ms, live in checks:
        expected = oracle_signals(accepted, month, t_ms, live, first_month)
        for entry in record["signals"]:
            status, score, inputs = expected[entry["id"]]
            assert (entry["id"], entry["status"], entry["score"], entry["inputs"]) == (
                entry["id"],
                status,
                score,
                _shown(inputs),
            ), (month, live)
            assert entry["projected"] == (live and status == "ok" and entry["kind"] == "growth")
