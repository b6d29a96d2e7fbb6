"""Band-change alerts (``scoring.alerts``) through the offline scorer: a hand-made account
whose live score drops and recovers, the band changes against the monthly records they
come from, the live alerts' invariants, the same alerts for any per-org order or
batching, and every alert against ``schemas/alert.v1.schema.json``."""

from __future__ import annotations

import itertools
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.generate import generate_lines
from schemas import load_schema
from scoring.alerts import SCOPES, AlertRules
from scoring.catalog import Catalog, catalog_from_dict
from scoring.state import OrgState, state_from_dict, state_to_dict
from scoring.timeutil import HOUR_MS, parse_time_ms
from streams.cli.feed import plan_records
from streams.pipeline.offline import OfflineResult, score_lines
from tests.oracle import regroup_by_org
from tests.scoring_support import DEFAULT_CATALOG

ALERT_SCHEMA = jsonschema.Draft202012Validator(
    load_schema("alert.v1.schema.json"), format_checker=jsonschema.FormatChecker()
)
DEFAULT_FILE = Path(__file__).resolve().parents[3] / "streams" / "default_catalog.json"
NOW_MS = parse_time_ms("2027-01-01T00:00:00Z")


def licence_catalog() -> Catalog:
    """The default catalog reduced to Sales Cloud licence activation: the overall score is
    the activated share of the purchased licences, easy to steer."""
    data = json.loads(DEFAULT_FILE.read_text())
    data["signals"] = [s for s in data["signals"] if s["id"] == "sales_cloud.license_activation"]
    return catalog_from_dict(data)


_ids = itertools.count()


def line(time: str, event_type: str, **data: Any) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": f"e{next(_ids)}",
            "source": "test",
            "type": event_type,
            "subject": "org-1",
            "time": time,
            "data": data,
        }
    )


def activated(time: str, count: int) -> bytes:
    return line(time, "license.activated", product="sales_cloud", count=count)


def deactivated(time: str, count: int) -> bytes:
    return line(time, "license.deactivated", product="sales_cloud", count=count)


def january_at_80() -> list[bytes]:
    return [
        line("2026-01-05T10:00:00Z", "license.purchased", product="sales_cloud", quantity=100),
        activated("2026-01-05T11:00:00Z", 80),
    ]


def score(lines: list[bytes], catalog: Catalog, rules: AlertRules | None = None) -> OfflineResult:
    return score_lines(
        lines,
        catalog,
        grace_ms=HOUR_MS,
        dedup_horizon_ms=86_400_000,
        now_ms=NOW_MS,
        alert_rules=rules or AlertRules(),
    )


def live_alerts(result: OfflineResult) -> list[tuple[str, str, str, int | None]]:
    return [
        (a["kind"], a["since"], a["as_of"], a["to"]["score"])
        for a in result.alerts
        if a["kind"] != "band_change"
    ]


def test_a_drop_held_for_a_day_is_at_risk_and_a_margin_back_is_recovered() -> None:
    lines = [
        *january_at_80(),  # January: 80, excellent (from 61)
        deactivated("2026-02-03T09:00:00Z", 40),  # live 40: below excellent, episode begins
        activated("2026-02-04T08:00:00Z", 1),  # 41, 23 h later: not yet
        activated("2026-02-04T12:00:00Z", 1),  # 42, 27 h later: at_risk
        activated("2026-02-06T12:00:00Z", 19),  # 61: back in the band, not by 3 points
        activated("2026-02-07T12:00:00Z", 3),  # 64: recovered
    ]
    result = score(lines, licence_catalog())
    assert live_alerts(result) == [
        ("at_risk", "2026-02-03T09:00:00Z", "2026-02-04T12:00:00Z", 42),
        ("recovered", "2026-02-03T09:00:00Z", "2026-02-07T12:00:00Z", 64),
    ]
    at_risk = result.alerts[0]
    assert at_risk["from"] == {"band": "excellent", "score": 80}
    assert at_risk["to"] == {"band": "good", "score": 42}
    assert at_risk["period"] == "2026-02"
    assert at_risk["movers"] == [{"signal": "sales_cloud.license_activation", "change": -38}]


def test_back_in_the_band_before_the_hold_ends_raises_nothing() -> None:
    lines = [
        *january_at_80(),
        deactivated("2026-02-03T09:00:00Z", 40),
        activated("2026-02-03T20:00:00Z", 30),  # 70 within the hold: the episode ends
        activated("2026-02-05T20:00:00Z", 1),
    ]
    assert live_alerts(score(lines, licence_catalog())) == []


def test_the_hold_and_the_margin_are_settings() -> None:
    lines = [
        *january_at_80(),
        deactivated("2026-02-03T09:00:00Z", 40),
        activated("2026-02-03T10:00:00Z", 21),  # 61: recovered only with no margin
    ]
    rules = AlertRules(hold_ms=0, hysteresis_points=0)
    assert live_alerts(score(lines, licence_catalog(), rules)) == [
        ("at_risk", "2026-02-03T09:00:00Z", "2026-02-03T09:00:00Z", 40),
        ("recovered", "2026-02-03T09:00:00Z", "2026-02-03T10:00:00Z", 61),
    ]


def test_checks_run_once_per_step_of_org_time() -> None:
    """Default hold (a day): a check per hour of org time. The drop at 09:10 falls in the
    hour the 09:00 event already checked, so the episode begins at 10:05."""
    lines = [
        *january_at_80(),
        activated("2026-02-03T09:00:00Z", 1),
        deactivated("2026-02-03T09:10:00Z", 41),  # 40, not checked
        activated("2026-02-03T10:05:00Z", 1),  # 41, checked: the episode begins
        activated("2026-02-04T10:04:00Z", 1),  # 23 h 59 min later: not yet
        activated("2026-02-04T11:00:00Z", 1),
    ]
    assert live_alerts(score(lines, licence_catalog())) == [
        ("at_risk", "2026-02-03T10:05:00Z", "2026-02-04T11:00:00Z", 43),
    ]


def test_a_month_closing_in_another_band_is_a_band_change_per_scope() -> None:
    lines = [
        *january_at_80(),
        deactivated("2026-02-10T00:00:00Z", 50),  # February closes at 30: fair
        line("2026-03-02T00:00:00Z", "clock.tick"),
    ]
    result = score(lines, licence_catalog())
    changes = [a for a in result.alerts if a["kind"] == "band_change"]
    assert [(a["scope"], a["period"], a["from"], a["to"]) for a in changes] == [
        (scope, "2026-02", {"band": "excellent", "score": 80}, {"band": "fair", "score": 30})
        for scope in ("overall", "product_adoption")
    ]
    assert all(a["revision"] == 0 and a["changed"] and a["since"] is None for a in changes)
    assert changes[0]["as_of"] == "2026-03-01T00:00:00Z"


def test_a_scope_without_a_band_in_either_month_gives_no_band_change() -> None:
    # January has no purchase: the signal does not apply, no score, no band.
    lines = [
        activated("2026-01-05T11:00:00Z", 10),
        line("2026-02-05T10:00:00Z", "license.purchased", product="sales_cloud", quantity=100),
        line("2026-03-02T00:00:00Z", "clock.tick"),
    ]
    result = score(lines, licence_catalog())
    bands = [r["overall"]["band"] for r in result.records if r["kind"] == "monthly"]
    assert bands == [None, "fair"]
    assert result.alerts == []


@cache
def generated(seed: int) -> tuple[bytes, ...]:
    return tuple(generate_lines(6, 14, seed, now="2026-03-02T00:00:00Z", dup_rate=0.03))


def scored(lines: list[bytes], rules: AlertRules = AlertRules()) -> OfflineResult:  # noqa: B008
    return score(lines, DEFAULT_CATALOG, rules)


def _lower_bounds() -> dict[str, int]:
    return {band.name: band.lower for band in DEFAULT_CATALOG.bands}


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000))
def test_band_changes_are_the_band_moves_of_the_monthly_records(seed: int) -> None:
    result = scored(list(generated(seed)))
    monthly = {
        (r["org_id"], r["period"]): r for r in result.records if r["kind"] == "monthly"
    }
    expected = set()
    for (org, period), record in monthly.items():
        year, month = map(int, period.split("-"))
        before = f"{year - (month == 1)}-{(month - 2) % 12 + 1:02d}"
        previous = monthly.get((org, before))
        if previous is None:
            continue
        for scope in SCOPES:
            now = record["overall"] if scope == "overall" else record["categories"][scope]
            then = previous["overall"] if scope == "overall" else previous["categories"][scope]
            if None not in (now["band"], then["band"]) and now["band"] != then["band"]:
                expected.add((org, period, scope, then["band"], now["band"], then["score"]))
    got = {
        (a["org_id"], a["period"], a["scope"], a["from"]["band"], a["to"]["band"],
         a["from"]["score"])
        for a in result.alerts
        if a["kind"] == "band_change"
    }  # fmt: skip
    assert got == expected
    assert expected, "the feed should move some band"
    # Movers: the record's explain.changes, largest first, unchanged left out, per scope.
    category_of = {signal.id: signal.category for signal in DEFAULT_CATALOG.signals}
    for alert in result.alerts:
        if alert["kind"] != "band_change":
            continue
        changes = monthly[(alert["org_id"], alert["period"])]["explain"]["changes"]
        movers = [
            {"signal": c["signal"], "change": c["points_change"]}
            for c in changes
            if c["points_change"] != 0
            and alert["scope"] in ("overall", category_of[c["signal"]])
        ]
        assert alert["movers"] == movers[:3]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.sampled_from([0, 3_600, 86_400]), st.sampled_from([0, 3, 10]))
def test_live_alerts_alternate_and_keep_their_promises(seed: int, hold: int, margin: int) -> None:
    rules = AlertRules(hold * 1000, margin)
    result = scored(list(generated(seed)), rules)
    lower = _lower_bounds()
    open_since: dict[str, str] = {}
    for alert in result.alerts:
        ALERT_SCHEMA.validate(json.loads(orjson.dumps(alert)))
        org = alert["org_id"]
        if alert["kind"] == "at_risk":
            assert org not in open_since
            open_since[org] = alert["since"]
            assert alert["to"]["score"] < lower[alert["from"]["band"]]
            held = parse_time_ms(alert["as_of"]) - parse_time_ms(alert["since"])
            assert held >= rules.hold_ms
        elif alert["kind"] == "recovered":
            assert open_since.pop(org) == alert["since"]
            assert alert["to"]["score"] >= lower[alert["from"]["band"]] + margin


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(2, 40))
def test_the_same_alerts_for_any_per_org_order_and_batching(seed: int, batch: int) -> None:
    lines = list(generated(seed))
    expected = scored(lines).alerts
    assert expected
    regrouped = scored(regroup_by_org(lines)).alerts
    batched = scored([record.value for record in plan_records(regroup_by_org(lines), batch)])
    key = orjson.dumps  # alerts are dicts: compare as sorted JSON
    assert sorted(map(key, regrouped)) == sorted(map(key, expected))
    assert sorted(map(key, batched.alerts)) == sorted(map(key, expected))


def test_an_open_episode_survives_the_state_round_trip() -> None:
    state = OrgState("org-1")
    state.alert_bucket = 123
    state.alert_episode = (1_700_000_000_000, True)
    restored = state_from_dict(json.loads(orjson.dumps(state_to_dict(state))))
    assert (restored.alert_bucket, restored.alert_episode) == (123, (1_700_000_000_000, True))
    state.alert_episode = None
    restored = state_from_dict(json.loads(orjson.dumps(state_to_dict(state))))
    assert (restored.alert_bucket, restored.alert_episode) == (123, None)


@pytest.mark.parametrize("bad", [{"kind": "at_risk", "since": None}, {"scope": "platform"}])
def test_the_schema_rejects_what_the_alerts_never_are(bad: dict[str, Any]) -> None:
    lines = [*january_at_80(), deactivated("2026-02-03T09:00:00Z", 40)]
    alert = score(lines, licence_catalog(), AlertRules(0, 3)).alerts[0]
    ALERT_SCHEMA.validate(alert)
    with pytest.raises(jsonschema.ValidationError):
        ALERT_SCHEMA.validate({**alert, **bad})
