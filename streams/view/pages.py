"""What the pages show, computed from score records (no I/O): the org page's model, the
trend chart's geometry, number formats and query links. The templates only lay it out;
Jinja2 escapes every value that came from an event."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from streams.view.store import CATEGORIES

CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 640, 200, 28
MAX_TREND_MONTHS = 26
SERIES = ("overall", *CATEGORIES)


def signed(value: Any) -> str:
    """``+3`` / ``-2`` / ``0`` / ``-`` (no value)."""
    if value is None:
        return "-"
    return f"{value:+g}" if value else "0"


def number(value: Any) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def query_link(params: dict[str, Any]) -> str:
    return "?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})


@dataclass(frozen=True, slots=True)
class TrendPoint:
    period: str
    score: int | None  # overall
    revised: bool
    x: float
    y: float | None


@dataclass(slots=True)
class Trend:
    points: list[TrendPoint] = field(default_factory=list)
    lines: dict[str, str] = field(default_factory=dict)  # series -> SVG polyline points
    first: str | None = None
    last: str | None = None


def _y(score: int | None) -> float | None:
    if score is None:
        return None
    return round(CHART_HEIGHT - CHART_PAD - score * (CHART_HEIGHT - 2 * CHART_PAD) / 100, 1)


def trend(history: list[dict[str, Any]]) -> Trend:
    """The last 26 monthly records as chart points (x by month, y by score)."""
    months = history[-MAX_TREND_MONTHS:]
    result = Trend()
    if not months:
        return result
    step = (CHART_WIDTH - 2 * CHART_PAD) / max(1, len(months) - 1)
    for series in SERIES:
        coords = []
        for i, record in enumerate(months):
            part = record.get("overall") if series == "overall" else (
                (record.get("categories") or {}).get(series)
            )  # fmt: skip
            y = _y((part or {}).get("score"))
            if y is not None:
                coords.append(f"{round(CHART_PAD + i * step, 1)},{y}")
        result.lines[series] = " ".join(coords)
    for i, record in enumerate(months):
        score = (record.get("overall") or {}).get("score")
        result.points.append(
            TrendPoint(
                period=str(record.get("period")),
                score=score,
                revised=int(record.get("revision") or 0) > 0,
                x=round(CHART_PAD + i * step, 1),
                y=_y(score),
            )
        )
    result.first, result.last = result.points[0].period, result.points[-1].period
    return result


@dataclass(slots=True)
class OrgModel:
    org_id: str
    live: dict[str, Any] | None
    latest_monthly: dict[str, Any] | None
    trend: Trend
    contributions: dict[str, Any]
    changes: list[dict[str, Any]]
    record: dict[str, Any]  # the live record, else the latest monthly one

    @property
    def categories(self) -> list[tuple[str, dict[str, Any]]]:
        cats = self.record.get("categories") or {}
        return [(name, cats.get(name) or {}) for name in CATEGORIES]


def org_model(org: str, live: dict[str, Any] | None, history: list[dict[str, Any]]) -> OrgModel:
    latest = history[-1] if history else None
    record = live or latest or {}
    explain = record.get("explain") or {}
    contributions = {c["signal"]: c["points"] for c in explain.get("contributions") or []}
    return OrgModel(
        org_id=org,
        live=live,
        latest_monthly=latest,
        trend=trend(history),
        contributions=contributions,
        changes=list(explain.get("changes") or []),
        record=record,
    )
