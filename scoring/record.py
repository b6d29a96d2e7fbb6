"""Score records (docs/scoring-rules.md section 6 and the "Output" rules of section 9).

``monthly_record`` evaluates month M at T = first instant of M+1 (events with time < T);
``live_record`` evaluates at T = the org's latest time (events with time <= T). Both
return plain dicts (ints, strs, bools, None, lists, dicts; non-integer numbers rounded to
6 decimals half to even and emitted as floats) in the field order of section 6.

A record is made of parts, each a function of few inputs, so that a caller that
serialises records can cache each part's bytes (``streams.pipeline.live_fragments``):
:func:`record_head` (the context), :func:`record_standing` (overall and categories: the
scores alone), one :func:`signal_entry` per signal (its result alone) and
:func:`record_changes` (trending, recommendations, explain: the scores and those of
month M-1). :func:`live_evaluations` gives what a live record is made from.

Speed (``benchmarks/bench_fold.py``, ``benchmarks/bench_live.py``): evaluations are
memoised (:mod:`scoring.evaluation`); the roll-up keeps its integer sums so that each
recommendation candidate and each explain share costs a few integer operations, and what
follows from the scores alone is computed once per distinct scores
(:class:`~scoring.evaluation.Derived`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scoring.catalog import CATEGORIES
from scoring.errors import ScoringError
from scoring.evaluation import (
    NOT_APPLICABLE,
    Evaluation,
    RecordPlan,
    SignalPlan,
    monthly_evaluation,
)
from scoring.evaluation import forget_memos as _forget_evaluation_memos
from scoring.kinds import EvalContext
from scoring.live_evaluation import live_evaluation
from scoring.numbers import output_ratio
from scoring.rollup import Totals, effective_weights
from scoring.state import OrgState

if TYPE_CHECKING:
    from scoring.compiled import CompiledCatalog

__all__ = [
    "SCHEMA_ID",
    "RecordPlan",
    "exact_points",
    "forget_memos",
    "live_evaluations",
    "live_record",
    "monthly_record",
    "point_changes",
    "previous_month_evaluation",
    "record_changes",
    "record_head",
    "record_standing",
    "signal_entry",
    "signed_ratio",
]

SCHEMA_ID = "css.score/v1"
MAX_TRENDING = 5
MAX_RECOMMENDATIONS = 3


def forget_memos(compiled: CompiledCatalog, state: OrgState) -> None:
    """Drop every memo that could serve ``state``'s next record (its memoised evaluations
    and signal results, and the compiled catalog's table of results derived from scores),
    so the next record is computed from scratch: for benchmarks and tests."""
    _forget_evaluation_memos(compiled.record, state)


def _trending(plan: RecordPlan, current: Evaluation, previous: Evaluation | None) -> list[Any]:
    if previous is None:
        return []
    changes: list[tuple[int, str]] = []
    for signal, now, before in zip(plan.signals, current.scores, previous.scores, strict=True):
        if now is not None and before is not None and now != before:
            changes.append((now - before, signal.id))
    changes.sort(key=lambda item: (-abs(item[0]), item[1]))
    return [{"id": signal_id, "change": change} for change, signal_id in changes[:MAX_TRENDING]]


def _recommendations(plan: RecordPlan, current: Evaluation) -> list[Any]:
    derived = current.derived
    ranked = derived.recommendations
    if ranked is None:
        ranked = derived.recommendations = _rank_recommendations(plan, current)
    return [
        {"signal": signal.id, "gain": gain, "effort": signal.effort, "action": signal.action}
        for signal, gain in ranked
    ]


def _rank_recommendations(
    plan: RecordPlan, current: Evaluation
) -> tuple[tuple[SignalPlan, int], ...]:
    """The signals whose rise to 100 gains the most overall points per effort point."""
    totals = current.totals
    rollup = plan.rollup
    scores = current.scores
    overall_now = totals.overall or 0
    ranked: list[tuple[int, int, str, SignalPlan]] = []
    for index, (signal, status, score) in enumerate(
        zip(plan.signals, current.statuses, scores, strict=True)
    ):
        if status == NOT_APPLICABLE or (score or 0) >= 100:
            continue
        if rollup.all_positive:
            overall_boosted = totals.overall_with(rollup, index, score, 100)
        else:
            boosted = list(scores)
            boosted[index] = 100
            overall_boosted = Totals(rollup, boosted).overall or 0
        gain = overall_boosted - overall_now
        if gain > 0:
            ranked.append((gain * signal.effort_rank, gain, signal.id, signal))
    ranked.sort(key=lambda item: (-item[0], -item[1], item[2]))
    return tuple((signal, gain) for _rank, gain, _id, signal in ranked[:MAX_RECOMMENDATIONS])


def _contributions(plan: RecordPlan, current: Evaluation) -> list[Any]:
    return [
        {"signal": signal_id, "points": value}
        for signal_id, value in _contribution_list(plan, current)
    ]


def _contribution_list(
    plan: RecordPlan, current: Evaluation
) -> tuple[tuple[str, int | float], ...]:
    derived = current.derived
    points = derived.contributions
    if points is None:
        points = derived.contributions = _contribution_points(plan, current)
    return points


def _contribution_points(
    plan: RecordPlan, current: Evaluation
) -> tuple[tuple[str, int | float], ...]:
    """Each taking-part signal's points, in catalog order: its exact points
    (:func:`exact_points`) printed per section 2.4."""
    signals = plan.signals
    return tuple(
        (signals[index].id, output_ratio(numerator, denominator))
        for index, (numerator, denominator) in exact_points(plan, current).items()
    )


def _explain(plan: RecordPlan, current: Evaluation, previous: Evaluation | None) -> dict[str, Any]:
    previous_overall = None if previous is None else previous.totals.overall
    overall = current.totals.overall
    change = None if previous_overall is None or overall is None else overall - previous_overall
    return {
        "previous_overall": previous_overall,
        "change": change,
        "contributions": _contributions(plan, current),
        "changes": point_changes(plan, current, previous),
    }


def point_changes(
    plan: RecordPlan, current: Evaluation, previous: Evaluation | None
) -> list[dict[str, Any]]:
    """What changed since month M-1, per signal taking part in either month: its score
    and contribution points now and then, and ``points_change`` (a side where it does
    not take part counts 0), largest change first (ties: catalog order); empty without
    an M-1. Exact integer ratios throughout (no Fraction objects: a month close builds
    one per org)."""
    if previous is None:
        return []
    now, before = exact_points(plan, current), exact_points(plan, previous)
    ranked: list[tuple[float, int, int, int]] = []
    for index in sorted({*now, *before}):
        num, den = now.get(index, _ZERO)
        old_num, old_den = before.get(index, _ZERO)
        change_num, change_den = num * old_den - old_num * den, den * old_den
        ranked.append((-abs(change_num) / change_den, index, change_num, change_den))
    ranked.sort()
    # The printed points are those of ``contributions`` (memoised per scores).
    printed_now = dict(_contribution_list(plan, current))
    printed_before = dict(_contribution_list(plan, previous))
    signals = plan.signals
    entries = []
    for _size, index, change_num, change_den in ranked:
        signal_id = signals[index].id
        entries.append(
            {
                "signal": signal_id,
                "score": current.scores[index],
                "previous_score": previous.scores[index],
                "points": printed_now.get(signal_id),
                "previous_points": printed_before.get(signal_id),
                "points_change": signed_ratio(change_num, change_den),
            }
        )
    return entries


_ZERO = (0, 1)


def signed_ratio(numerator: int, denominator: int) -> int | float:
    """``output_ratio`` for a numerator of either sign (half to even is symmetric)."""
    if numerator < 0:
        return -output_ratio(-numerator, denominator)
    return output_ratio(numerator, denominator)


def exact_points(plan: RecordPlan, current: Evaluation) -> dict[int, tuple[int, int]]:
    """Each taking-part signal's exact points as (numerator, denominator > 0), in catalog
    order: score x its exact share of the overall (weight / group weight / groups in its
    category x category weight / weights of the categories taking part); integer weights
    scale every level alike, so the shares are unchanged."""
    derived = current.derived
    exact = derived.exact_points
    if exact is not None:
        return exact
    scores = current.scores
    rollup = plan.rollup
    exact = {}
    if not rollup.all_positive:
        shares = effective_weights(plan.catalog, scores)
        for index, (score, share) in enumerate(zip(scores, shares, strict=True)):
            if score is not None and share is not None:
                value = score * share
                exact[index] = (value.numerator, value.denominator)
    else:
        totals = current.totals
        weight_sums = totals.weight_sums
        category_counts = totals.category_counts
        total_weight = totals.total_weight
        group_category = rollup.group_category
        category_weights = rollup.category_weights
        for index, (score, group_index, weight) in enumerate(
            zip(scores, rollup.signal_groups, rollup.signal_weights, strict=True)
        ):
            if score is None:
                continue
            category_index = group_category[group_index]
            exact[index] = (
                score * weight * category_weights[category_index],
                weight_sums[group_index] * category_counts[category_index] * total_weight,
            )
    derived.exact_points = exact
    return exact


def record_head(
    plan: RecordPlan, state: OrgState, ctx: EvalContext, kind: str, revision: int
) -> dict[str, Any]:
    """``schema`` .. ``catalog``: what the record is, of whom, when."""
    catalog = plan.catalog
    return {
        "schema": SCHEMA_ID,
        "org_id": state.org_id,
        "kind": kind,
        "period": plan.period_text(ctx.month),
        "as_of": plan.time_text(ctx.t_ms),
        "revision": revision,
        "catalog": {"name": catalog.name, "version": catalog.version},
    }


def record_standing(plan: RecordPlan, current: Evaluation) -> dict[str, Any]:
    """``overall`` and ``categories``: a function of ``current.derived`` alone."""
    totals = current.totals
    groups = totals.groups_by_category(plan.rollup)
    categories: dict[str, Any] = {}
    for category, score, weight, category_band in zip(
        CATEGORIES,
        totals.category_scores,
        plan.output_category_weights,
        plan.category_band,
        strict=True,
    ):
        categories[category] = {
            "score": score,
            "band": category_band(score),
            "available": score is not None,
            "weight": weight,
            "groups": groups[category],
        }
    overall = totals.overall
    return {
        "overall": {"score": overall, "band": plan.overall_band(overall)},
        "categories": categories,
    }


def signal_entry(plan: RecordPlan, current: Evaluation, index: int) -> dict[str, Any]:
    """Signal ``index``'s entry of ``signals``: a function of the signal and its result
    (``current.results[index]``; None: not applicable) alone."""
    signal = plan.signals[index]
    score = current.scores[index]
    return {
        "id": signal.id,
        "kind": signal.kind,
        "category": signal.category,
        "group": signal.group,
        "score": score,
        "band": plan.overall_band(score),
        "status": current.statuses[index],
        # Memoised results may serve several records: each gets its own copy.
        "inputs": dict(current.inputs[index]),
        "projected": current.projected[index],
    }


def record_changes(
    plan: RecordPlan, current: Evaluation, previous: Evaluation | None
) -> dict[str, Any]:
    """``trending``, ``recommendations`` and ``explain``: a function of ``current.derived``
    and ``previous.derived`` alone."""
    return {
        "trending": _trending(plan, current, previous),
        "recommendations": _recommendations(plan, current),
        "explain": _explain(plan, current, previous),
    }


def previous_month_evaluation(
    plan: RecordPlan, state: OrgState, current: Evaluation
) -> Evaluation | None:
    """Trending and explain compare with month M-1 evaluated as a monthly record, unless
    M-1 is before the org's first month (section 9)."""
    ctx = current.ctx
    if ctx.month - 1 >= ctx.first_month:
        return monthly_evaluation(plan, state, ctx.month - 1)
    return None


def _record(
    plan: RecordPlan, state: OrgState, current: Evaluation, kind: str, revision: int
) -> dict[str, Any]:
    previous = previous_month_evaluation(plan, state, current)
    record = record_head(plan, state, current.ctx, kind, revision)
    record.update(record_standing(plan, current))
    record["signals"] = [signal_entry(plan, current, index) for index in range(len(plan.signals))]
    record.update(record_changes(plan, current, previous))
    return record


def monthly_record(
    compiled: CompiledCatalog, state: OrgState, month: int, *, revision: int = 0
) -> dict[str, Any]:
    """The record of month ``month`` (a month index), evaluated at its close."""
    plan = compiled.record
    current = monthly_evaluation(plan, state, month)
    return _record(plan, state, current, "monthly", revision)


def live_evaluations(
    compiled: CompiledCatalog, state: OrgState
) -> tuple[Evaluation, Evaluation | None]:
    """What the live record is made from: the evaluation at the org's latest time, and
    the monthly evaluation of the month before (None before the org's first month)."""
    t_ms = state.latest_time_ms
    if t_ms is None:
        raise ScoringError("an org with no accepted event has no live record")
    plan = compiled.record
    current = live_evaluation(plan, state, t_ms)
    return current, previous_month_evaluation(plan, state, current)


def live_record(compiled: CompiledCatalog, state: OrgState, *, revision: int = 0) -> dict[str, Any]:
    """The record at the org's latest time (its partial month)."""
    current, _previous_evaluation = live_evaluations(compiled, state)
    return _record(compiled.record, state, current, "live", revision)
