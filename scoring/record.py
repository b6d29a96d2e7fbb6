"""Score records (spec section 6 and the "Output" rules of section 9).

``monthly_record`` evaluates month M at T = first instant of M+1 (events with time < T);
``live_record`` evaluates at T = the org's latest time (events with time <= T). Both
return plain dicts (ints, strs, bools, None, lists, dicts; non-integer numbers rounded to
6 decimals half to even and emitted as floats) in the field order of spec 6.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from scoring.catalog import CATEGORIES, Catalog, Signal
from scoring.kinds import EvalContext, Inputs, evaluate_signal
from scoring.numbers import output_number
from scoring.rollup import RollUp, band, effective_weights, roll_up
from scoring.state import OrgState
from scoring.timeutil import format_period, format_time_ms, month_of, month_start_ms

SCHEMA_ID = "css.score/v1"
MAX_TRENDING = 5
MAX_RECOMMENDATIONS = 3


@dataclass(frozen=True, slots=True)
class SignalResult:
    status: str  # ok | no_data | not_applicable
    score: int | None  # None unless scored (policy zero scores no_data as 0)
    inputs: Inputs
    projected: bool


@dataclass(frozen=True, slots=True)
class Evaluation:
    ctx: EvalContext
    results: list[SignalResult]
    rollup: RollUp


def _owns(state: OrgState, product: str, ctx: EvalContext) -> bool:
    """Ownership at T (spec 5, 9): permanent through a purchase/provisioning before T, or
    through the latest org.profile at T."""
    since = state.owned_since.get(product)
    if since is not None and (since <= ctx.t_ms if ctx.live else since < ctx.t_ms):
        return True
    found, products = state.profiles.value_through(ctx.month)
    return found and isinstance(products, tuple) and product in products


def _applicable(catalog: Catalog, signal: Signal, state: OrgState, ctx: EvalContext) -> bool:
    if signal.category == "customer_expertise":
        return True
    if signal.category == "technical_health":
        return any(_owns(state, product, ctx) for product in catalog.core_products)
    return _owns(state, signal.group, ctx)


def evaluate(catalog: Catalog, state: OrgState, ctx: EvalContext) -> Evaluation:
    results: list[SignalResult] = []
    for signal in catalog.signals:
        if not _applicable(catalog, signal, state, ctx):
            results.append(SignalResult("not_applicable", None, {}, False))
            continue
        score, inputs, projected = evaluate_signal(signal, state.signals.get(signal.id), ctx)
        if score is None:
            zero = 0 if signal.policy == "zero" else None
            results.append(SignalResult("no_data", zero, inputs, False))
        else:
            results.append(SignalResult("ok", score, inputs, projected))
    return Evaluation(ctx, results, roll_up(catalog, [r.score for r in results]))


def _monthly_context(state: OrgState, month: int) -> EvalContext:
    first_month = state.first_month
    return EvalContext(
        month=month,
        t_ms=month_start_ms(month + 1),
        live=False,
        first_month=month if first_month is None else first_month,
    )


def _output_inputs(inputs: Inputs) -> dict[str, Any]:
    return {
        key: value if value is None or isinstance(value, bool) else output_number(value)
        for key, value in inputs.items()
    }


def _trending(catalog: Catalog, current: Evaluation, previous: Evaluation | None) -> list[Any]:
    if previous is None:
        return []
    changes: list[tuple[int, str]] = []
    for signal, now, before in zip(catalog.signals, current.results, previous.results, strict=True):
        if now.score is not None and before.score is not None and now.score != before.score:
            changes.append((now.score - before.score, signal.id))
    changes.sort(key=lambda item: (-abs(item[0]), item[1]))
    return [{"id": signal_id, "change": change} for change, signal_id in changes[:MAX_TRENDING]]


def _recommendations(catalog: Catalog, current: Evaluation) -> list[Any]:
    scores = [r.score for r in current.results]
    overall_now = current.rollup.overall or 0
    ranked: list[tuple[Fraction, int, str, Signal]] = []
    for index, (signal, result) in enumerate(zip(catalog.signals, current.results, strict=True)):
        if result.status == "not_applicable" or (result.score or 0) >= 100:
            continue
        boosted = list(scores)
        boosted[index] = 100
        overall_boosted = roll_up(catalog, boosted).overall or 0
        gain = overall_boosted - overall_now
        if gain > 0:
            ranked.append((Fraction(gain, signal.effort_points), gain, signal.id, signal))
    ranked.sort(key=lambda item: (-item[0], -item[1], item[2]))
    return [
        {"signal": signal.id, "gain": gain, "effort": signal.effort, "action": signal.action}
        for _ratio, gain, _id, signal in ranked[:MAX_RECOMMENDATIONS]
    ]


def _explain(catalog: Catalog, current: Evaluation, previous: Evaluation | None) -> dict[str, Any]:
    scores = [r.score for r in current.results]
    contributions = [
        {"signal": signal.id, "points": output_number(score * share)}
        for signal, score, share in zip(
            catalog.signals, scores, effective_weights(catalog, scores), strict=True
        )
        if score is not None and share is not None
    ]
    previous_overall = None if previous is None else previous.rollup.overall
    overall = current.rollup.overall
    change = None if previous_overall is None or overall is None else overall - previous_overall
    return {"previous_overall": previous_overall, "change": change, "contributions": contributions}


def _record(
    catalog: Catalog, state: OrgState, ctx: EvalContext, kind: str, revision: int
) -> dict[str, Any]:
    current = evaluate(catalog, state, ctx)
    # Trending and explain compare with month M-1 evaluated as a monthly record, unless
    # M-1 is before the org's first month (spec 9).
    previous = None
    if ctx.month - 1 >= ctx.first_month:
        previous = evaluate(catalog, state, _monthly_context(state, ctx.month - 1))
    rollup = current.rollup
    categories: dict[str, Any] = {}
    for category in CATEGORIES:
        score = rollup.categories[category]
        categories[category] = {
            "score": score,
            "band": band(score),
            "available": score is not None,
            "weight": output_number(catalog.category_weights[category]),
            "groups": dict(rollup.groups[category]),
        }
    signals = [
        {
            "id": signal.id,
            "kind": signal.kind,
            "category": signal.category,
            "group": signal.group,
            "score": result.score,
            "band": band(result.score),
            "status": result.status,
            "inputs": _output_inputs(result.inputs),
            "projected": result.projected,
        }
        for signal, result in zip(catalog.signals, current.results, strict=True)
    ]
    return {
        "schema": SCHEMA_ID,
        "org_id": state.org_id,
        "kind": kind,
        "period": format_period(ctx.month),
        "as_of": format_time_ms(ctx.t_ms),
        "revision": revision,
        "catalog": {"name": catalog.name, "version": catalog.version},
        "overall": {"score": rollup.overall, "band": band(rollup.overall)},
        "categories": categories,
        "signals": signals,
        "trending": _trending(catalog, current, previous),
        "recommendations": _recommendations(catalog, current),
        "explain": _explain(catalog, current, previous),
    }


def monthly_record(
    catalog: Catalog, state: OrgState, month: int, *, revision: int = 0
) -> dict[str, Any]:
    """The record of month ``month`` (a month index), evaluated at its close."""
    return _record(catalog, state, _monthly_context(state, month), "monthly", revision)


def live_record(catalog: Catalog, state: OrgState, *, revision: int = 0) -> dict[str, Any]:
    """The record at the org's latest time (its partial month)."""
    t_ms = state.latest_time_ms
    if t_ms is None:
        raise ValueError("an org with no accepted event has no live record")
    month = month_of(t_ms)
    first_month = state.first_month
    ctx = EvalContext(
        month=month, t_ms=t_ms, live=True, first_month=month if first_month is None else first_month
    )
    return _record(catalog, state, ctx, "live", revision)
