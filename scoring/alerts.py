"""Band-change alerts (docs/scoring-rules.md, "Alerts"): ``css.alert/v1`` records.

Two families, each a function of one org's own events in their order, so the streaming
worker and ``csscore score --alerts`` give the same final alerts:

- **monthly** ``band_change``: for a closed month M and a scope (``overall`` or a
  category), the band of M differs from the band of M-1 (both evaluated as monthly
  records; a scope without a band in either month gives none). Emitted with M's monthly
  record and its ``revision``. A re-emitted month whose band change is gone gives
  ``changed: false`` for the scopes that had one (the caller passes them: the
  :func:`band_changes` of the month before the late event is applied), so a consumer
  keeping the highest revision per (org, period, scope) holds exactly the band changes of
  the final monthly records.
- **live** ``at_risk`` / ``recovered``: at a check, the live overall score is compared
  with the band of month M-1 evaluated as a monthly record (as ``trending`` does). A check
  runs after the first accepted event that moves the org's time (its latest event time)
  into a new check step (:attr:`AlertRules.check_step_ms`, 1/24 of the hold: an hour by
  default; with a hold of 0, after every accepted event): a function of the org's events
  in order, the same offline and streaming however records batch them. Below that band's
  lower bound at checks spanning :attr:`AlertRules.hold_ms` of org time: one
  ``at_risk``; back at the lower bound plus :attr:`AlertRules.hysteresis_points` or
  above: one ``recovered``. Back in the band before the hold ends: no alert. Both carry
  ``since``, the org time of the check that found the drop; the episode and the last
  check's step live in the state (serialised with it). A live evaluation per check is
  the cost: a check per hour of org time, not per event, keeps it off the hot path of
  busy orgs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scoring.catalog import CATEGORIES
from scoring.evaluation import Evaluation, RecordPlan, monthly_evaluation
from scoring.live_evaluation import live_evaluation
from scoring.record import exact_points, previous_month_evaluation, signed_ratio
from scoring.state import OrgState
from scoring.timeutil import month_of

if TYPE_CHECKING:
    from scoring.compiled import CompiledCatalog

__all__ = [
    "ALERT_KINDS",
    "ALERT_SCHEMA_ID",
    "SCOPES",
    "AlertRules",
    "band_changes",
    "follow_live",
    "monthly_band_alerts",
]

ALERT_SCHEMA_ID = "css.alert/v1"
ALERT_KINDS = ("band_change", "at_risk", "recovered")
SCOPES = ("overall", *CATEGORIES)
MAX_MOVERS = 3


@dataclass(frozen=True, slots=True)
class AlertRules:
    """When live alerts fire: the hold in org event time and the recovery margin."""

    hold_ms: int = 86_400_000
    hysteresis_points: float = 3.0

    @property
    def check_step_ms(self) -> int:
        """Live checks run at the first event of each step of org time: 1/24 of the hold
        (an hour by default; every event with a hold of 0)."""
        return self.hold_ms // 24


def _scope_score(current: Evaluation, scope_index: int) -> int | None:
    totals = current.totals
    return totals.overall if scope_index == 0 else totals.category_scores[scope_index - 1]


def _scope_band(plan: RecordPlan, scope_index: int, score: int | None) -> str | None:
    if scope_index == 0:
        return plan.overall_band(score)
    return plan.category_band[scope_index - 1](score)


Moves = list[tuple[int, int, int]]  # (signal index, exact change numerator, denominator)


def _moves(plan: RecordPlan, current: Evaluation, previous: Evaluation) -> Moves:
    """Every signal whose contribution points changed since the month before, largest
    absolute change first (ties: catalog order): the ranking of ``explain.changes``."""
    now, before = exact_points(plan, current), exact_points(plan, previous)
    ranked: list[tuple[float, int, int, int]] = []
    for index in {*now, *before}:
        num, den = now.get(index, _ZERO)
        old_num, old_den = before.get(index, _ZERO)
        change_num = num * old_den - old_num * den
        if change_num:
            change_den = den * old_den
            ranked.append((-abs(change_num) / change_den, index, change_num, change_den))
    ranked.sort()
    return [(index, num, den) for _size, index, num, den in ranked]


_ZERO = (0, 1)


def _movers(plan: RecordPlan, moves: Moves, scope: str) -> list[dict[str, Any]]:
    """The first movers of ``moves`` (a category scope: its own signals), printed as
    ``explain.changes`` prints ``points_change``."""
    movers: list[dict[str, Any]] = []
    for index, num, den in moves:
        signal = plan.signals[index]
        if scope == "overall" or signal.category == scope:
            movers.append({"signal": signal.id, "change": signed_ratio(num, den)})
            if len(movers) == MAX_MOVERS:
                break
    return movers


def _alert(
    plan: RecordPlan,
    state: OrgState,
    kind: str,
    scope: str,
    current: Evaluation,
    moves: Moves,
    scores: tuple[int | None, int | None],
    bands: tuple[str | None, str | None],
    *,
    revision: int = 0,
    changed: bool = True,
    since_ms: int | None = None,
) -> dict[str, Any]:
    ctx = current.ctx
    return {
        "schema": ALERT_SCHEMA_ID,
        "org_id": state.org_id,
        "kind": kind,
        "scope": scope,
        "period": plan.period_text(ctx.month),
        "revision": revision,
        "changed": changed,
        "from": {"band": bands[0], "score": scores[0]},
        "to": {"band": bands[1], "score": scores[1]},
        "movers": _movers(plan, moves, scope) if changed else [],
        "since": None if since_ms is None else plan.time_text(since_ms),
        "as_of": plan.time_text(ctx.t_ms),
    }


def _scope_bands(
    plan: RecordPlan, current: Evaluation, previous: Evaluation | None
) -> list[tuple[tuple[int | None, int | None], tuple[str | None, str | None]]]:
    """Per scope: (M-1 score, M score) and (M-1 band, M band)."""
    out = []
    for index in range(len(SCOPES)):
        now_score = _scope_score(current, index)
        before_score = None if previous is None else _scope_score(previous, index)
        bands = (_scope_band(plan, index, before_score), _scope_band(plan, index, now_score))
        out.append(((before_score, now_score), bands))
    return out


def _changed(bands: tuple[str | None, str | None]) -> bool:
    return bands[0] is not None and bands[1] is not None and bands[0] != bands[1]


def band_changes(compiled: CompiledCatalog, state: OrgState, month: int) -> int:
    """The scopes (bit i: ``SCOPES[i]``) whose band changes from M-1 to ``month``."""
    plan = compiled.record
    current = monthly_evaluation(plan, state, month)
    previous = previous_month_evaluation(plan, state, current)
    held = 0
    for index, (_scores, bands) in enumerate(_scope_bands(plan, current, previous)):
        if _changed(bands):
            held |= 1 << index
    return held


def monthly_band_alerts(
    compiled: CompiledCatalog, state: OrgState, month: int, *, revision: int, retract: int = 0
) -> list[dict[str, Any]]:
    """The ``band_change`` alerts of month ``month``'s monthly record at ``revision``:
    ``changed: true`` for each scope whose band changes, ``changed: false`` for each scope
    of ``retract`` (the band changes the month's previous revision held, bit i:
    ``SCOPES[i]``) whose change is gone."""
    plan = compiled.record
    current = monthly_evaluation(plan, state, month)
    previous = previous_month_evaluation(plan, state, current)
    alerts: list[dict[str, Any]] = []
    moves: Moves | None = None  # computed once, when a band changed
    for index, (scores, bands) in enumerate(_scope_bands(plan, current, previous)):
        changed = _changed(bands)
        if not changed and not retract & (1 << index):
            continue
        if changed and moves is None and previous is not None:
            moves = _moves(plan, current, previous)
        alert = _alert(
            plan,
            state,
            "band_change",
            SCOPES[index],
            current,
            moves or [],
            scores,
            bands,
            revision=revision,
            changed=changed,
        )
        alerts.append(alert)
    return alerts


def _lower_bound(plan: RecordPlan, band_name: str) -> int:
    for band in plan.catalog.bands:
        if band.name == band_name:
            return band.lower
    raise AssertionError(f"band {band_name!r} is not in the catalog's overall scheme")


def follow_live(
    compiled: CompiledCatalog, state: OrgState, rules: AlertRules
) -> dict[str, Any] | None:
    """After an accepted event: check the org's live band when its time entered a new check
    step, advance its episode, and return the alert that raises (``at_risk`` or
    ``recovered``), if any (module docstring)."""
    t_ms = state.latest_time_ms
    first_month = state.first_month
    if t_ms is None or first_month is None:
        return None
    step = rules.check_step_ms
    if step:
        bucket = t_ms // step
        if state.alert_bucket is not None and bucket <= state.alert_bucket:
            return None  # checked in this step already
        state.alert_bucket = bucket
    month = state.latest_month
    if month is None:
        month = month_of(t_ms)
    if month - 1 < first_month:
        return None  # no month M-1 yet
    plan = compiled.record
    previous = monthly_evaluation(plan, state, month - 1)  # memoised per month
    reference = previous.totals.overall
    episode = state.alert_episode
    if reference is None:
        return None  # nothing to compare: an open episode waits
    reference_band = plan.overall_band(reference)
    assert reference_band is not None
    lower = _lower_bound(plan, reference_band)
    if episode is None and lower == 0:
        return None  # no score is below the lowest band: no live evaluation needed
    current = live_evaluation(plan, state, t_ms)
    score = current.totals.overall
    if score is None:
        return None
    scores = (reference, score)
    bands = (reference_band, plan.overall_band(score))
    if episode is None:
        if score >= lower:
            return None
        episode = state.alert_episode = (t_ms, False)
    since_ms, raised = episode
    if not raised:
        if score >= lower:
            state.alert_episode = None  # back in the band before the hold ended
            return None
        if t_ms - since_ms < rules.hold_ms:
            return None
        state.alert_episode = (since_ms, True)
        moves = _moves(plan, current, previous)
        return _alert(
            plan, state, "at_risk", "overall", current, moves, scores, bands, since_ms=since_ms
        )
    if score < lower + rules.hysteresis_points:
        return None
    state.alert_episode = None
    moves = _moves(plan, current, previous)
    return _alert(
        plan, state, "recovered", "overall", current, moves, scores, bands, since_ms=since_ms
    )
