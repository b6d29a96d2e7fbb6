"""Evaluation of every signal of a catalog at one context, and the memos that make the
next evaluation of the same org cheap (the records of :mod:`scoring.record` are built
from an :class:`Evaluation`).

Memos (all on the org's state or on the compiled catalog, none serialised; each entry names
the :class:`RecordPlan` that computed it, so another compiled catalog recomputes):

- ``state.signal_results``: a timeless signal's result per (signal, month), valid while
  the fold has not updated the signal since (``state.touched``);
- ``state.evaluations``: monthly evaluations (see :func:`monthly_evaluation`);
- ``state.live_memo``: the last live evaluation. The next one re-evaluates only the
  signals an accepted event has updated since, plus, when the org's time has moved, the
  signals that read the instant (:meth:`SignalKind.reads_the_instant`: recency, binary
  indicators, error-free days, growth run rates); everything else is reused as is,
  result objects included (callers may key caches on them). A new month, a new first
  month or an ownership change (which can change applicability) evaluates everything;
- ``RecordPlan.derived``: what follows from the scores alone (roll-up sums,
  recommendations, explain shares), shared by every org.
"""

from __future__ import annotations

import math
from typing import Any

from scoring.catalog import CATEGORIES, Catalog
from scoring.kinds import KINDS, EvalContext, Evaluator, Inputs, KindResult, StableUntil
from scoring.numbers import output_number
from scoring.rollup import BandTable, RollUpPlan, Totals
from scoring.state import OrgState
from scoring.timeutil import (
    DAY_MS,
    days_in_month,
    format_day,
    format_period,
    format_time_of_day,
    month_start_ms,
)

# Monthly evaluations memoised per org: the worker asks for M-1 (live records, the
# monthly record of M) and re-emits a few recent months; older entries are dropped.
MAX_MEMOISED_MONTHS = 4
MEMO_MONTHS_PER_SIGNAL = 4
# Bound of a record plan's calendar memos (cleared when full).
MAX_CALENDAR_MONTHS = 1024
# Bound of a plan's table of derived results (cleared when full).
MAX_DERIVED = 1024

# Applicability (sections 5, 9): customer expertise always; technical health through any core
# product; product adoption through the signal's own product (its group).
_ALWAYS, _CORE, _OWN_PRODUCT = 0, 1, 2
NOT_APPLICABLE, NO_DATA, OK = "not_applicable", "no_data", "ok"


class SignalPlan:
    """One signal of a :class:`RecordPlan`: its record fields, evaluator and roll-up rank."""

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
        "stable_until",
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
        # For a signal that reads the instant: until when a live result holds.
        self.stable_until: StableUntil[Any] | None = (
            None if self.timeless else kind.stable_until(signal.params)
        )
        if signal.category == "customer_expertise":
            self.applies = _ALWAYS
        elif signal.category == "technical_health":
            self.applies = _CORE
        else:
            self.applies = _OWN_PRODUCT


# "HH:MM" of each minute of a day: the middle of a ``format_time_ms`` text.
_MINUTE_TEXTS = tuple(f"{minute // 60:02d}:{minute % 60:02d}" for minute in range(1440))


class RecordPlan:
    """A catalog compiled for evaluation (part of
    :class:`scoring.compiled.CompiledCatalog`), with its memo tables: results derived
    from scores (``derived``) and calendar facts per month index (``calendar``)."""

    __slots__ = (
        "calendar",
        "catalog",
        "category_band",
        "day_texts",
        "derived",
        "index_of",
        "instant_indexes",
        "output_category_weights",
        "overall_band",
        "period_texts",
        "rollup",
        "second_texts",
        "signals",
    )

    def __init__(self, catalog: Catalog, rollup: RollUpPlan) -> None:
        self.catalog = catalog
        self.rollup = rollup
        # gain / effort_points ranks like gain x (lcm of all efforts / effort_points).
        effort_scale = math.lcm(*(signal.effort_points for signal in catalog.signals))
        self.signals = tuple(
            SignalPlan(catalog, index, effort_scale) for index in range(len(catalog.signals))
        )
        self.index_of = {signal.id: index for index, signal in enumerate(self.signals)}
        self.instant_indexes = tuple(
            index for index, signal in enumerate(self.signals) if not signal.timeless
        )
        self.derived: dict[tuple[tuple[int | None, ...], tuple[str, ...]], Derived] = {}
        self.output_category_weights = tuple(
            output_number(catalog.category_weights[category]) for category in CATEGORIES
        )
        # The catalog's grading schemes as score -> band name tables (signals use the
        # overall scheme).
        self.overall_band = BandTable(catalog.bands)
        self.category_band = tuple(BandTable(catalog.bands_of(c)) for c in CATEGORIES)
        # month index -> (first ms, first ms of the next month, days): live evaluations
        # ask for the same few months over and over.
        self.calendar: dict[int, tuple[int, int, int]] = {}
        # day since 1970-01-01 -> its "YYYY-MM-DDT" (``as_of`` of live records).
        self.day_texts: dict[int, str] = {}
        # month index -> "YYYY-MM"; ms within a minute -> ":SS[.mmm]Z" (at most 60,000).
        self.period_texts: dict[int, str] = {}
        self.second_texts: dict[int, str] = {}

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

    def time_text(self, time_ms: int) -> str:
        """:func:`~scoring.timeutil.format_time_ms`, the date part memoised per day."""
        days, ms_of_day = divmod(time_ms, DAY_MS)
        day_text = self.day_texts.get(days)
        if day_text is None:
            if len(self.day_texts) >= MAX_CALENDAR_MONTHS:
                self.day_texts.clear()
            day_text = self.day_texts[days] = format_day(days)
        minute, ms_of_minute = divmod(ms_of_day, 60_000)
        second_text = self.second_texts.get(ms_of_minute)
        if second_text is None:
            second_text = self.second_texts[ms_of_minute] = format_time_of_day(ms_of_minute)[5:]
        return day_text + _MINUTE_TEXTS[minute] + second_text

    def period_text(self, month: int) -> str:
        """:func:`~scoring.timeutil.format_period`, memoised."""
        text = self.period_texts.get(month)
        if text is None:
            if len(self.period_texts) >= MAX_CALENDAR_MONTHS:
                self.period_texts.clear()
            text = self.period_texts[month] = format_period(month)
        return text


class Derived:
    """What follows from the scores and statuses alone (roll-up sums, recommendations,
    explain contributions), shared by every evaluation with the same ones: an org's
    integer scores change far less often than its events arrive. Built lazily."""

    __slots__ = ("contributions", "exact_points", "recommendations", "totals")

    def __init__(self, totals: Totals) -> None:
        self.totals = totals
        self.recommendations: tuple[tuple[SignalPlan, int], ...] | None = None
        self.contributions: tuple[tuple[str, int | float], ...] | None = None
        # signal index -> its exact contribution points as (numerator, denominator)
        self.exact_points: dict[int, tuple[int, int]] | None = None


class Evaluation:
    """Every signal's result at one context, in catalog order, and the roll-up sums.

    ``results`` holds each signal's evaluator result (None when not applicable); an
    evaluation built from a memoised one shares the result objects of the signals it did
    not re-evaluate, and ``derived`` is shared by every evaluation with equal scores."""

    __slots__ = ("ctx", "derived", "inputs", "projected", "results", "scores", "statuses", "totals")

    def __init__(
        self,
        ctx: EvalContext,
        scores: list[int | None],
        statuses: list[str],
        inputs: list[Inputs],
        projected: list[bool],
        results: list[KindResult | None],
        derived: Derived,
    ) -> None:
        self.ctx = ctx
        self.scores = scores  # None unless scored (policy zero scores no_data as 0)
        self.statuses = statuses  # ok | no_data | not_applicable
        self.inputs = inputs
        self.projected = projected
        self.results = results
        self.derived = derived
        self.totals = derived.totals


_NOT_APPLICABLE_INPUTS: Inputs = {}  # shared: records copy inputs, nothing mutates them


def derived_of(plan: RecordPlan, scores: list[int | None], statuses: list[str]) -> Derived:
    scores_key = (tuple(scores), tuple(statuses))
    table = plan.derived
    derived = table.get(scores_key)
    if derived is None:
        if len(table) >= MAX_DERIVED:
            table.clear()
        derived = table[scores_key] = Derived(Totals(plan.rollup, scores))
    return derived


def signal_result(
    plan: RecordPlan, state: OrgState, signal: SignalPlan, ctx: EvalContext, memo_ok: bool
) -> KindResult:
    """A signal's result at ``ctx``. Timeless signals' results are memoised per (signal,
    month), valid while the fold has not updated the signal since (``touched``) and
    pruning cannot have reached the month (``memo_ok``)."""
    if not signal.timeless:
        return signal.evaluate(state.signals.get(signal.id), ctx)
    signal_id = signal.id
    key = (signal_id, ctx.month)
    version = state.touched.get(signal_id, -1)
    memo: dict[tuple[str, int], Any] = state.signal_results
    entry = memo.get(key)
    if entry is not None and entry[0] is plan and entry[1] == version and memo_ok:
        return entry[2]  # type: ignore[no-any-return]
    result = signal.evaluate(state.signals.get(signal_id), ctx)
    if memo_ok:
        if len(memo) >= MEMO_MONTHS_PER_SIGNAL * len(plan.signals):
            memo.clear()
        memo[key] = (plan, version, result)
    return result


def evaluate(plan: RecordPlan, state: OrgState, ctx: EvalContext) -> Evaluation:
    """Every signal at ``ctx`` (timeless results from the per-signal memo)."""
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

    pruned_month = state.pruned_month
    memo_ok = pruned_month is None or ctx.month >= pruned_month
    core_owned: bool | None = None
    core_products = plan.catalog.core_products
    scores: list[int | None] = []
    statuses: list[str] = []
    inputs_list: list[Inputs] = []
    projected_list: list[bool] = []
    results: list[KindResult | None] = []
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
            statuses.append(NOT_APPLICABLE)
            inputs_list.append(_NOT_APPLICABLE_INPUTS)
            projected_list.append(False)
            results.append(None)
            continue
        result = signal_result(plan, state, signal, ctx, memo_ok)
        score, inputs, projected = result
        if score is None:
            scores.append(0 if signal.zero_policy else None)
            statuses.append(NO_DATA)
            projected_list.append(False)
        else:
            scores.append(score)
            statuses.append(OK)
            projected_list.append(projected)
        inputs_list.append(inputs)
        results.append(result)
    derived = derived_of(plan, scores, statuses)
    return Evaluation(ctx, scores, statuses, inputs_list, projected_list, results, derived)


def forget_memos(plan: RecordPlan, state: OrgState) -> None:
    """Drop every memo that could serve ``state``'s next evaluation (see the module
    docstring) and ``plan``'s table of results derived from scores."""
    state.evaluations.clear()
    state.signal_results.clear()
    state.live_memo = None
    plan.derived.clear()


def monthly_context(plan: RecordPlan, state: OrgState, month: int) -> EvalContext:
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


def monthly_evaluation(plan: RecordPlan, state: OrgState, month: int) -> Evaluation:
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
    evaluation = evaluate(plan, state, monthly_context(plan, state, month))
    cache.pop(month, None)
    while len(cache) >= MAX_MEMOISED_MONTHS:
        del cache[next(iter(cache))]
    cache[month] = (plan, state.seq, state.latest_month, evaluation)
    return evaluation
