"""The offline scorer behind ``csscore score`` (docs/scoring-rules.md sections 3, 9, 10).

Decodes JSON lines, applies each org's events in input order with the same fold the
streaming worker uses, and emits, per org (ids ascending), one monthly record per closed
month from its first month on (offline closing rule: one watermark, the largest accepted
time of the whole input, ticks included) and then one live record. Every record carries
revision 0. The streaming oracle tests compare the worker with :func:`score_lines`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from scoring.alerts import AlertRules, follow_live, monthly_band_alerts
from scoring.catalog import Catalog
from scoring.compiled import CompiledCatalog, compile_catalog
from scoring.fold import Outcome, apply_event
from scoring.record import live_record, monthly_record
from scoring.state import OrgState
from scoring.timeutil import latest_closed_month
from streams.codec.fast_decode import decode_record


@dataclass(frozen=True, slots=True)
class LineRejection:
    """A rejected line or batch element: 1-based line number, reason code, detail (never
    the payload), element index within a batch line (None for the whole line)."""

    line: int
    reason: str
    detail: str
    index: int | None = None

    def describe(self) -> str:
        """``line N: REASON: detail``; a batch element's index leads the detail."""
        detail = self.detail if self.index is None else f"element {self.index}: {self.detail}"
        return f"line {self.line}: {self.reason}: {detail}"


@dataclass(slots=True)
class OfflineResult:
    records: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    watermark_ms: int | None = None
    rejections: list[LineRejection] = field(default_factory=list)


@dataclass(slots=True)
class OfflineScorer:
    """Incremental form of :func:`score_lines`: feed lines, then :meth:`finish`."""

    catalog: Catalog
    grace_ms: int
    dedup_horizon_ms: int
    now_ms: int
    # None: no alerts (``csscore score`` without ``--alerts``: the live ones cost an
    # evaluation per event).
    alert_rules: AlertRules | None = None
    states: dict[str, OrgState] = field(default_factory=dict)
    live_alerts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    result: OfflineResult = field(default_factory=OfflineResult)
    line_number: int = 0
    compiled: CompiledCatalog = field(init=False)

    def __post_init__(self) -> None:
        self.compiled = compile_catalog(self.catalog)

    def feed(self, line: bytes) -> None:
        self.line_number += 1
        # The limit of 1 MiB applies to the line's content, not its terminator.
        if line.endswith(b"\n"):
            line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        if not line or line.isspace():
            return  # blank lines are ignored (spec 9)
        result = self.result
        decoded = decode_record(line, self.now_ms)
        for rejection in decoded.rejections:
            result.rejected += 1
            result.rejections.append(
                LineRejection(self.line_number, rejection.reason, rejection.detail, rejection.index)
            )
        for index, event in decoded.events:
            if event.is_tick:
                # A tick is accepted and advances the watermark only (spec 3, 9).
                result.accepted += 1
                self._advance(event.time_ms)
                continue
            state = self.states.get(event.subject)
            if state is None:
                state = self.states[event.subject] = OrgState(event.subject)
            outcome = apply_event(
                self.compiled, state, event, dedup_horizon_ms=self.dedup_horizon_ms
            )
            if outcome is Outcome.ACCEPTED:
                result.accepted += 1
                self._advance(event.time_ms)
                if self.alert_rules is not None:
                    self._follow_live(state, self.alert_rules)
            elif outcome is Outcome.DUPLICATE:
                result.duplicates += 1
            else:
                result.rejected += 1
                result.rejections.append(
                    LineRejection(
                        self.line_number,
                        "too_old",
                        "event month is more than 13 months before the org's latest month",
                        index if line.lstrip()[:1] == b"[" else None,
                    )
                )

    def _follow_live(self, state: OrgState, rules: AlertRules) -> None:
        alert = follow_live(self.compiled, state, rules)
        if alert is not None:
            self.live_alerts.setdefault(state.org_id, []).append(alert)

    def _advance(self, time_ms: int) -> None:
        watermark = self.result.watermark_ms
        if watermark is None or time_ms > watermark:
            self.result.watermark_ms = time_ms

    def finish(self) -> OfflineResult:
        result = self.result
        records: list[dict[str, Any]] = []
        alerts: list[dict[str, Any]] = []
        closed = (
            None
            if result.watermark_ms is None
            else latest_closed_month(result.watermark_ms, self.grace_ms)
        )
        for org_id in sorted(self.states):
            state = self.states[org_id]
            first_month = state.first_month
            if first_month is None:
                continue
            if closed is not None:
                for month in range(first_month, closed + 1):
                    records.append(monthly_record(self.compiled, state, month))
                    if self.alert_rules is not None:
                        alerts.extend(monthly_band_alerts(self.compiled, state, month, revision=0))
            records.append(live_record(self.compiled, state))
            alerts.extend(self.live_alerts.get(org_id, ()))
        result.records = records
        result.alerts = alerts
        return result


def score_lines(
    lines: Iterable[bytes],
    catalog: Catalog,
    *,
    grace_ms: int,
    dedup_horizon_ms: int,
    now_ms: int,
    alert_rules: AlertRules | None = None,
) -> OfflineResult:
    """Score JSON lines the way ``csscore score`` does (records in output order; with
    ``alert_rules``, the alerts too: per org, its band changes, then its live alerts)."""
    scorer = OfflineScorer(catalog, grace_ms, dedup_horizon_ms, now_ms, alert_rules)
    for line in lines:
        scorer.feed(line)
    return scorer.finish()
