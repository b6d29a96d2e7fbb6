"""Score records (docs/scoring-rules.md section 6 and the "Output" rules of section 9).

``monthly_record`` evaluates month M at T = first instant of M+1 (events with time < T);
``live_record`` evaluates at T = the org's latest time (events with time <= T). Both
return plain dicts (ints, strs, bools, None, lists, dicts; non-integer numbers rounded to
6 decimals half to even and emitted as floats) in the field order of section 6.

Speed (``benchmarks/bench_fold.py``): the record plan of a
:class:`~scoring.compiled.CompiledCatalog` holds each signal's evaluator and roll-up
indexes; the roll-up keeps its integer sums so that each recommendation candidate and each
explain share costs a few integer operations; and the monthly evaluation of month M-1
(trending, explain) is memoised on the org state while no accepted event can have changed
it (see :func:`_monthly_evaluation`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from scoring.catalog import CATEGORIES, Catalog
from scoring.errors import ScoringError
from scoring.kinds import KINDS, EvalContext, Evaluator, Inputs, KindResult
from scoring.numbers import output_number, output_ratio
from scoring.rollup import RollUpPlan, Totals, band, effective_weights
from scoring.state import OrgState
from scoring.timeutil import days_in_month, format_period, format_time_ms, month_of, month_start_ms

if TYPE_CHECKING:
    from scoring.compiled import CompiledCatalog

SCHEMA_ID = "css.score/v1"
MAX_TRENDING = 5
MAX_RECOMMENDATIONS = 3
# Monthly evaluations memoised per org: the worker asks for M-1 (live records, the
# monthly record of M) and re-emits a few recent months; older entries are dropped.
MAX_MEMOISED_MONTHS = 4
MEMO_MONTHS_PER_SIGNAL = 4

# Applicability (sections 5, 9): customer expertise always; technical health through any core
# product; product adoption through the signal's own product (its group).
_ALWAYS, _CORE, _OWN_PRODUCT = 0, 1, 2
_NOT_APPLICABLE, _NO_DATA, _OK = "not_applicable", "no_data", "ok"


class _SignalPlan:
    __slots__ = (
        "action",
        "applies",
        "category",
        "effort",
        "effort_rank",
        "evaluate",
        "group",
        "id",
        "kind",
        "timeless",
        "zero_policy",
    )

    def __init__(self, catalog: Catalog, index: int, effort_scale: int) -> None:
        signal = catalog.signals[index]
        self.id = signal.id
        self.kind = signal.kind
        self.category = signal.category
        self.group = signal.group
        self.effort = signal.effort
        self.action = signal.action
        self.effort_rank = effort_scale // signal.effort_points
        self.zero_policy = signal.policy == "zero"
        kind = KINDS[signal.kind]
        # Typed per kind; here erased to the state's untyped accumulator lists (a signal's
        # accumulators are always made by its own kind).
        self.evaluate: Evaluator[Any] = kind.evaluator(signal.params)
        # A result that depends only on the accumulators and the month can be reused
        # while no event has updated the signal (see evaluate).
        self.timeless = not kind.reads_the_instant(signal.params)
        if signal.category == "customer_expertise":
            self.applies = _ALWAYS
        elif signal.category == "technical_health":
            self.applies = _CORE
        else:
            self.applies = _OWN_PRODUCT


# Bound of a record plan's calendar memo (cleared when full).
MAX_CALENDAR_MONTHS = 1024


class RecordPlan:
    """A catalog compiled for evaluation (part of
    :class:`scoring.compiled.CompiledCatalog`), with its memo tables: results derived
    from scores (``derived``) and calendar facts per month index (``calendar``)."""

    __slots__ = (
        "calendar",
        "catalog",
        "derived",
        "output_category_weights",
        "rollup",
        "signals",
    )

    def __init__(self, catalog: Catalog, rollup: RollUpPlan) -> None:
        self.catalog = catalog
        self.rollup = rollup
        # gain / effort_points ranks like gain x (lcm of all efforts / effort_points).
        effort_scale = math.lcm(*(signal.effort_points for signal in catalog.signals))
        self.signals = tuple(
            _SignalPlan(catalog, index, effort_scale) for index in range(len(catalog.signals))
        )
        self.derived: dict[tuple[tuple[int | None, ...], tuple[str, ...]], _Derived] = {}
        self.output_category_weights = tuple(
            output_number(catalog.category_weights[category]) for category in CATEGORIES
        )
        # month index -> (first ms, first ms of the next month, days): live evaluations
        # ask for the same few months over and over.
        self.calendar: dict[int, tuple[int, int, int]] = {}

    def month_facts(self, month: int) -> tuple[int, int, int]:
        """(first ms, first ms of month + 1, days) of a month index, memoised."""
        facts = self.calendar.get(month)
        if facts is None:
            if len(self.calendar) >= MAX_CALENDAR_MONTHS:
                self.calendar.clear()
            facts = self.calendar[month] = (
                month_start_ms(month),
                month_start_ms(month + 1),
                days_in_month(month),
            )
        return facts


class Evaluation:
    """Every signal's result at one context, in catalog order, and the roll-up sums."""

    __slots__ = ("ctx", "derived", "inputs", "projected", "scores", "statuses", "totals")

    def __init__(
        self,
        ctx: EvalContext,
        scores: list[int | None],
        statuses: list[str],
        inputs: list[Inputs],
        projected: list[bool],
        derived: _Derived,
    ) -> None:
        self.ctx = ctx
        self.scores = scores  # None unless scored (policy zero scores no_data as 0)
        self.statuses = statuses  # ok | no_data | not_applicable
        self.inputs = inputs
        self.projected = projected
        self.derived = derived
        self.totals = derived.totals


class _Derived:
    """What follows from the scores and statuses alone (roll-up sums, recommendations,
    explain contributions), shared by every evaluation with the same ones: an org's
    integer scores change far less often than its events arrive. Built lazily."""

    __slots__ = ("contributions", "recommendations", "totals")

    def __init__(self, totals: Totals) -> None:
        self.totals = totals
        self.recommendations: tuple[tuple[_SignalPlan, int], ...] | None = None
        self.contributions: tuple[tuple[str, int | float], ...] | None = None


# Bound of a plan's table of derived results (cleared when full).
MAX_DERIVED = 1024


def evaluate(plan: RecordPlan, state: OrgState, ctx: EvalContext) -> Evaluation:
    t_ms, live = ctx.t_ms, ctx.live
    owned_since = state.owned_since
    profile: tuple[str, ...] | None = None  # products of the latest org.profile at T
    profile_read = False
    owned: dict[str, bool] = {}

    def owns(product: str) -> bool:
        """Ownership at T (sections 5, 9): permanent through a purchase/provisioning before
        T, or through the latest org.profile at T."""
        nonlocal profile, profile_read
        since = owned_since.get(product)
        if since is not None and (since <= t_ms if live else since < t_ms):
            return True
        if not profile_read:
            profile_read = True
            found, products = state.profiles.value_through(ctx.month)
            profile = products if found and isinstance(products, tuple) else None
        return profile is not None and product in profile

    # Memo of timeless signals' results per (signal, month), valid while the fold has
    # not updated the signal since (``touched``) and pruning cannot have reached the month.
    month = ctx.month
    memo: dict[tuple[str, int], Any] = state.signal_results
    touched = state.touched
    pruned_month = state.pruned_month
    memo_ok = pruned_month is None or month >= pruned_month
    memo_limit = MEMO_MONTHS_PER_SIGNAL * len(plan.signals)
    core_owned: bool | None = None
    core_products = plan.catalog.core_products
    accumulators = state.signals
    scores: list[int | None] = []
    statuses: list[str] = []
    inputs_list: list[Inputs] = []
    projected_list: list[bool] = []
    for signal in plan.signals:
        applies = signal.applies
        if applies == _CORE:
            if core_owned is None:
                core_owned = any(owns(product) for product in core_products)
            applicable = core_owned
        elif applies == _OWN_PRODUCT:
            product = signal.group
            known = owned.get(product)
            applicable = owned[product] = owns(product) if known is None else known
        else:
            applicable = True
        if not applicable:
            scores.append(None)
            statuses.append(_NOT_APPLICABLE)
            inputs_list.append({})
            projected_list.append(False)
            continue
        if signal.timeless:
            signal_id = signal.id
            key = (signal_id, month)
            version = touched.get(signal_id, -1)
            entry = memo.get(key)
            if entry is not None and entry[0] is plan and entry[1] == version and memo_ok:
                result: KindResult = entry[2]
            else:
                result = signal.evaluate(accumulators.get(signal_id), ctx)
                if memo_ok:
                    if len(memo) >= memo_limit:
                        memo.clear()
                    memo[key] = (plan, version, result)
            score, inputs, projected = result
        else:
            score, inputs, projected = signal.evaluate(accumulators.get(signal.id), ctx)
        if score is None:
            scores.append(0 if signal.zero_policy else None)
            statuses.append(_NO_DATA)
            projected_list.append(False)
        else:
            scores.append(score)
            statuses.append(_OK)
            projected_list.append(projected)
        inputs_list.append(inputs)
    scores_key = (tuple(scores), tuple(statuses))
    table = plan.derived
    derived = table.get(scores_key)
    if derived is None:
        if len(table) >= MAX_DERIVED:
            table.clear()
        derived = table[scores_key] = _Derived(Totals(plan.rollup, scores))
    return Evaluation(ctx, scores, statuses, inputs_list, projected_list, derived)


def forget_memos(compiled: CompiledCatalog, state: OrgState) -> None:
    """Drop every memo that could serve ``state``'s next record (its memoised monthly
    evaluations and signal results, and the compiled catalog's table of results derived
    from scores), so the next record is computed from scratch: for benchmarks and tests."""
    state.evaluations.clear()
    state.signal_results.clear()
    compiled.record.derived.clear()


def _monthly_context(plan: RecordPlan, state: OrgState, month: int) -> EvalContext:
    first_month = state.first_month
    start_ms, end_ms, days = plan.month_facts(month)
    return EvalContext(
        month=month,
        t_ms=end_ms,
        live=False,
        first_month=month if first_month is None else first_month,
        month_start_ms=start_ms,
        month_days=days,
    )


def _monthly_evaluation(plan: RecordPlan, state: OrgState, month: int) -> Evaluation:
    """The evaluation of ``month`` at its close, memoised on ``state``.

    An entry computed at arrival counter ``seq`` stays exact while the state has the same
    ``seq`` (no accepted event since), or, for a month before the latest month at the time
    (closed for the org), while no accepted event has fallen before the latest month
    since (``backfill_seq``): every other event lies in a later month, which a monthly
    evaluation of ``month`` never reads (times >= T, months > M, ownership from after T).
    Pruning keeps every month >= its cutoff exact, so only months below it are refused.
    """
    cache: dict[int, Any] = state.evaluations
    entry = cache.get(month)
    pruned_month = state.pruned_month
    if entry is not None and (pruned_month is None or month >= pruned_month):
        entry_plan, seq, latest_month, evaluation = entry
        if entry_plan is plan and (
            seq == state.seq
            or (latest_month is not None and month < latest_month and state.backfill_seq <= seq)
        ):
            return evaluation  # type: ignore[no-any-return]
    evaluation = evaluate(plan, state, _monthly_context(plan, state, month))
    cache.pop(month, None)
    while len(cache) >= MAX_MEMOISED_MONTHS:
        del cache[next(iter(cache))]
    cache[month] = (plan, state.seq, state.latest_month, evaluation)
    return evaluation


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
) -> tuple[tuple[_SignalPlan, int], ...]:
    """The signals whose rise to 100 gains the most overall points per effort point."""
    totals = current.totals
    rollup = plan.rollup
    scores = current.scores
    overall_now = totals.overall or 0
    ranked: list[tuple[int, int, str, _SignalPlan]] = []
    for index, (signal, status, score) in enumerate(
        zip(plan.signals, current.statuses, scores, strict=True)
    ):
        if status == _NOT_APPLICABLE or (score or 0) >= 100:
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
    derived = current.derived
    points = derived.contributions
    if points is None:
        points = derived.contributions = _contribution_points(plan, current)
    return [{"signal": signal_id, "points": value} for signal_id, value in points]


def _contribution_points(
    plan: RecordPlan, current: Evaluation
) -> tuple[tuple[str, int | float], ...]:
    """Each taking-part signal's points: score x its exact share of the overall (weight /
    group weight / groups in its category x category weight / weights of the categories
    taking part); integer weights scale every level alike, so the shares are unchanged."""
    scores = current.scores
    rollup = plan.rollup
    if not rollup.all_positive:
        return tuple(
            (signal.id, output_number(score * share))
            for signal, score, share in zip(
                plan.signals, scores, effective_weights(plan.catalog, scores), strict=True
            )
            if score is not None and share is not None
        )
    totals = current.totals
    weight_sums = totals.weight_sums
    category_counts = totals.category_counts
    category_weights = rollup.category_weights
    group_category = rollup.group_category
    total_weight = totals.total_weight
    contributions: list[tuple[str, int | float]] = []
    for signal, score, group_index, weight in zip(
        plan.signals, scores, rollup.signal_groups, rollup.signal_weights, strict=True
    ):
        if score is None:
            continue
        category_index = group_category[group_index]
        points = output_ratio(
            score * weight * category_weights[category_index],
            weight_sums[group_index] * category_counts[category_index] * total_weight,
        )
        contributions.append((signal.id, points))
    return tuple(contributions)


def _explain(plan: RecordPlan, current: Evaluation, previous: Evaluation | None) -> dict[str, Any]:
    previous_overall = None if previous is None else previous.totals.overall
    overall = current.totals.overall
    change = None if previous_overall is None or overall is None else overall - previous_overall
    return {
        "previous_overall": previous_overall,
        "change": change,
        "contributions": _contributions(plan, current),
    }


def _record(
    plan: RecordPlan,
    state: OrgState,
    current: Evaluation,
    kind: str,
    revision: int,
) -> dict[str, Any]:
    ctx = current.ctx
    catalog = plan.catalog
    # Trending and explain compare with month M-1 evaluated as a monthly record, unless
    # M-1 is before the org's first month (section 9).
    previous = None
    if ctx.month - 1 >= ctx.first_month:
        previous = _monthly_evaluation(plan, state, ctx.month - 1)
    totals = current.totals
    groups = totals.groups_by_category(plan.rollup)
    categories: dict[str, Any] = {}
    for category, score, weight in zip(
        CATEGORIES, totals.category_scores, plan.output_category_weights, strict=True
    ):
        categories[category] = {
            "score": score,
            "band": band(score),
            "available": score is not None,
            "weight": weight,
            "groups": groups[category],
        }
    signals = [
        {
            "id": signal.id,
            "kind": signal.kind,
            "category": signal.category,
            "group": signal.group,
            "score": score,
            "band": band(score),
            "status": status,
            # Memoised results may serve several records: each gets its own copy.
            "inputs": dict(inputs),
            "projected": projected,
        }
        for signal, score, status, inputs, projected in zip(
            plan.signals,
            current.scores,
            current.statuses,
            current.inputs,
            current.projected,
            strict=True,
        )
    ]
    overall = totals.overall
    return {
        "schema": SCHEMA_ID,
        "org_id": state.org_id,
        "kind": kind,
        "period": format_period(ctx.month),
        "as_of": format_time_ms(ctx.t_ms),
        "revision": revision,
        "catalog": {"name": catalog.name, "version": catalog.version},
        "overall": {"score": overall, "band": band(overall)},
        "categories": categories,
        "signals": signals,
        "trending": _trending(plan, current, previous),
        "recommendations": _recommendations(plan, current),
        "explain": _explain(plan, current, previous),
    }


def monthly_record(
    compiled: CompiledCatalog, state: OrgState, month: int, *, revision: int = 0
) -> dict[str, Any]:
    """The record of month ``month`` (a month index), evaluated at its close."""
    plan = compiled.record
    current = _monthly_evaluation(plan, state, month)
    return _record(plan, state, current, "monthly", revision)


def live_record(compiled: CompiledCatalog, state: OrgState, *, revision: int = 0) -> dict[str, Any]:
    """The record at the org's latest time (its partial month)."""
    t_ms = state.latest_time_ms
    if t_ms is None:
        raise ScoringError("an org with no accepted event has no live record")
    plan = compiled.record
    month = month_of(t_ms)
    first_month = state.first_month
    start_ms, _end_ms, days = plan.month_facts(month)
    ctx = EvalContext(
        month=month,
        t_ms=t_ms,
        live=True,
        first_month=month if first_month is None else first_month,
        month_start_ms=start_ms,
        month_days=days,
    )
    return _record(plan, state, evaluate(plan, state, ctx), "live", revision)
