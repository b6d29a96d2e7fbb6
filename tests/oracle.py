"""Comparing the worker's score topic with ``csscore score`` (spec section 10).

Consumers keep the highest revision per (org, period) and the latest live record per org;
the comparison is field by field except ``revision``. Alerts: a consumer keeps the highest
revision per (org, period, scope) of the band changes, and holds those with ``changed``
true; live alerts are identified by (org, scope, kind, since).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import orjson

Key = tuple[str, str, str]  # (org, kind, period); live records use period "*"


def final_records(records: Iterable[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    """The record a consumer keeps per key, from records in topic order (per key)."""
    final: dict[Key, dict[str, Any]] = {}
    for record in records:
        if record["kind"] == "live":
            final[(record["org_id"], "live", "*")] = record
            continue
        key = (record["org_id"], "monthly", record["period"])
        kept = final.get(key)
        if kept is None or record["revision"] >= kept["revision"]:
            final[key] = record
    return final


AlertKey = tuple[str, str, str, str]  # (org, kind, scope, period or since)


def final_alerts(alerts: Iterable[dict[str, Any]]) -> dict[AlertKey, dict[str, Any]]:
    """The alerts a consumer holds, from alerts in topic order (per key): band changes at
    their highest revision when it says ``changed``, and each live alert's first copy."""
    latest: dict[AlertKey, dict[str, Any]] = {}
    for alert in alerts:
        if alert["kind"] == "band_change":
            key = (alert["org_id"], "band_change", alert["scope"], alert["period"])
            kept = latest.get(key)
            if kept is None or alert["revision"] >= kept["revision"]:
                latest[key] = alert
        else:
            key = (alert["org_id"], alert["kind"], alert["scope"], alert["since"])
            latest.setdefault(key, alert)
    return {key: alert for key, alert in latest.items() if alert["changed"]}


def without_revision(record: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in record.items() if name != "revision"}


def differences(
    expected: dict[Any, dict[str, Any]], actual: dict[Any, dict[str, Any]], limit: int = 10
) -> list[str]:
    """Human-readable differences (missing, unexpected, or differing fields)."""
    problems: list[str] = []
    for key in sorted(expected.keys() | actual.keys()):
        if key not in actual:
            problems.append(f"missing {key}")
        elif key not in expected:
            problems.append(f"unexpected {key}")
        else:
            want, got = without_revision(expected[key]), without_revision(actual[key])
            if want != got:
                fields = sorted(f for f in want.keys() | got.keys() if want.get(f) != got.get(f))
                detail = ", ".join(f"{f}: {want.get(f)!r} != {got.get(f)!r}" for f in fields[:3])
                problems.append(f"differs {key}: {detail[:600]}")
        if len(problems) >= limit:
            break
    return problems


def regroup_by_org(lines: Iterable[bytes]) -> list[bytes]:
    """Each org's lines together, their order kept (unparsable lines at the end), so that
    ``plan_records(lines, n)`` fills its batches (the same final records)."""
    groups: dict[str, list[bytes]] = defaultdict(list)
    for line in lines:
        try:
            doc = orjson.loads(line)
            first = doc[0] if isinstance(doc, list) and doc else doc
            org = str(first.get("subject")) if isinstance(first, dict) else "~"
        except orjson.JSONDecodeError:
            org = "~"
        groups[org].append(line)
    return [line for org in sorted(groups) for line in groups[org]]
