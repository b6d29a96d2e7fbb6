"""Signal kinds (spec section 4): each evaluates one signal's accumulators at T.

A kind returns ``(score, inputs, projected)``; ``score`` None means "no data" (the
roll-up applies the catalog policy). Monthly T is the first instant of month M+1 and sees
events with time < T; live T is the org's latest time and sees time <= T (spec 3). All
arithmetic is exact and every score is the floor of the exact value, clamped (spec 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from scoring.accumulators import (
    Accumulator,
    LatestValues,
    MonthDays,
    MonthMax,
    MonthSamples,
    MonthSums,
    WindowEvents,
)
from scoring.catalog import (
    ConfigParams,
    DeductionParams,
    ErrorFreeDaysParams,
    GrowthParams,
    IndicatorParams,
    RatioOperand,
    RatioParams,
    RecencyParams,
    Signal,
    ThresholdAverageParams,
)
from scoring.numbers import Number, floor_clamp, floor_div_clamp, normalise, rational
from scoring.timeutil import DAY_MS, days_in_month, month_start_ms

Inputs = dict[str, "Number | bool | None"]
KindResult = tuple["int | None", Inputs, bool]


@dataclass(frozen=True, slots=True)
class EvalContext:
    """Where a record is evaluated: scored month M, instant T, and whether T itself is
    included (live) or excluded (monthly); ``first_month`` of the org (spec 9)."""

    month: int
    t_ms: int
    live: bool
    first_month: int


def _tier_score(tiers: tuple[tuple[int, int], ...], count: Number) -> int:
    """Score of the last tier whose minimum is <= count; 0 when none matches (spec 9)."""
    score = 0
    for minimum, tier_score in tiers:
        if minimum <= count:
            score = tier_score
    return score


def _operand_value(operand: RatioOperand, acc: Accumulator | None, ctx: EvalContext) -> Number:
    if acc is None:
        return 0  # a gauge never set counts as 0 (spec 9)
    if isinstance(acc, LatestValues):
        found, value = acc.value_through(ctx.month)
        return rational(value) if found and not isinstance(value, bool | tuple) else 0
    assert isinstance(acc, MonthSums)
    if operand.mode == "year":
        return acc.total_between(ctx.month - 11, ctx.month)
    return acc.total_through(ctx.month)


def ratio(params: RatioParams, accs: list[Accumulator] | None, ctx: EvalContext) -> KindResult:
    """floor(100 * num / den), clamped to 0..100; no data when den = 0."""
    num = _operand_value(params.numerator, accs[0] if accs else None, ctx)
    den = _operand_value(params.denominator, accs[1] if accs else None, ctx)
    inputs: Inputs = {"num": num, "den": den}
    if den == 0:
        return None, inputs, False
    return floor_div_clamp(100 * num, den), inputs, False


def growth(params: GrowthParams, accs: list[Accumulator] | None, ctx: EvalContext) -> KindResult:
    """floor(50 * last / baseline), cap 100; live ``last`` is the month's run rate."""
    counts = accs[0] if accs else None
    assert counts is None or isinstance(counts, MonthSums)

    def count(month: int) -> Number:
        return 0 if counts is None else counts.get(month)

    month = ctx.month
    last: Number = count(month)
    if ctx.live:
        # Run rate: month-to-date x days_in_month / elapsed days (fractional, at least 1).
        elapsed = max(Fraction(1), Fraction(ctx.t_ms - month_start_ms(month), DAY_MS))
        last = normalise(last * days_in_month(month) / elapsed)
    inputs: Inputs = {"last": last}
    # Months before the org's first month do not exist (spec 4, 9).
    if params.variant == "yoy":
        if month - 12 < ctx.first_month:
            return None, inputs, False
        baseline: Number = count(month - 12)
    else:
        history = [m for m in range(month - 12, month) if m >= ctx.first_month]
        if not history:
            return None, inputs, False
        baseline = normalise(Fraction(sum(count(m) for m in history), len(history)))
    inputs["baseline"] = baseline
    if baseline == 0:  # spec 4: 100 if anything happened, else 0
        return (100 if last > 0 else 0), inputs, ctx.live
    return floor_div_clamp(50 * last, baseline), inputs, ctx.live


def indicator(
    params: IndicatorParams, accs: list[Accumulator] | None, ctx: EvalContext
) -> KindResult:
    """Binary: 100 when a matching event lies in [T - window, T]; tiers: count in the year."""
    acc = accs[0] if accs else None
    if params.mode == "binary":
        in_window = 0
        if acc is not None:
            assert isinstance(acc, WindowEvents)
            in_window = acc.count_through(ctx.t_ms) if ctx.live else acc.count_before(ctx.t_ms)
        return (100 if in_window > 0 else 0), {"count_in_window": in_window}, False
    n: Number = 0
    if acc is not None:
        assert isinstance(acc, MonthSums)
        n = acc.total_between(ctx.month - 11, ctx.month)
    return _tier_score(params.tiers, n), {"count": n}, False


def recency(params: RecencyParams, accs: list[Accumulator] | None, ctx: EvalContext) -> KindResult:
    """First tier with days_since <= max_days; never seen or past every tier -> 0."""
    acc = accs[0] if accs else None
    latest = None
    if acc is not None:
        assert isinstance(acc, MonthMax)
        latest = acc.latest_through(ctx.month)
    if latest is None:
        return 0, {"days_since": None}, False
    days_since = (ctx.t_ms - latest) // DAY_MS
    score = 0
    for max_days, tier_score in params.tiers:
        if days_since <= max_days:
            score = tier_score
            break
    return score, {"days_since": days_since}, False


def error_free_days(
    params: ErrorFreeDaysParams, accs: list[Accumulator] | None, ctx: EvalContext
) -> KindResult:
    """floor(100 * days without a matching event / days considered) over month M."""
    acc = accs[0] if accs else None
    month = ctx.month
    considered = days_in_month(month)
    if ctx.live:
        considered = min(considered, (ctx.t_ms - month_start_ms(month)) // DAY_MS + 1)
    error_days = 0
    if acc is not None:
        assert isinstance(acc, MonthDays)
        error_days = acc.days(month)
    score = floor_div_clamp(100 * (considered - error_days), considered)
    return score, {"error_days": error_days, "days_considered": considered}, False


def threshold_average(
    params: ThresholdAverageParams, accs: list[Accumulator] | None, ctx: EvalContext
) -> KindResult:
    """m = count-weighted mean of the month's samples; floor(100 (bad - m) / (bad - good))."""
    acc = accs[0] if accs else None
    if acc is None:
        return None, {}, False
    assert isinstance(acc, MonthSamples)
    mean = acc.mean(ctx.month)
    if mean is None:
        return None, {}, False
    score = floor_div_clamp(100 * (params.bad - mean), params.bad - params.good)
    return score, {"mean": mean}, False


def deduction(
    params: DeductionParams, accs: list[Accumulator] | None, ctx: EvalContext
) -> KindResult:
    """100 minus the points of the month's matching events, floored at 0."""
    acc = accs[0] if accs else None
    points: Number = 0
    if acc is not None:
        assert isinstance(acc, MonthSums)
        points = acc.get(ctx.month)
    return floor_clamp(100 - points), {"points": points}, False


def config(params: ConfigParams, accs: list[Accumulator] | None, ctx: EvalContext) -> KindResult:
    """Latest value at T: true 100, false 0, a number floor(value) clamped; never set: no data."""
    acc = accs[0] if accs else None
    if acc is None:
        return None, {}, False
    assert isinstance(acc, LatestValues)
    found, value = acc.value_through(ctx.month)
    if not found:
        return None, {}, False
    if isinstance(value, bool):
        return (100 if value else 0), {"value": value}, False
    number = rational(value)
    return floor_clamp(number), {"value": number}, False


def evaluate_signal(signal: Signal, accs: list[Accumulator] | None, ctx: EvalContext) -> KindResult:
    params = signal.params
    if isinstance(params, RatioParams):
        return ratio(params, accs, ctx)
    if isinstance(params, GrowthParams):
        return growth(params, accs, ctx)
    if isinstance(params, IndicatorParams):
        return indicator(params, accs, ctx)
    if isinstance(params, RecencyParams):
        return recency(params, accs, ctx)
    if isinstance(params, ErrorFreeDaysParams):
        return error_free_days(params, accs, ctx)
    if isinstance(params, ThresholdAverageParams):
        return threshold_average(params, accs, ctx)
    if isinstance(params, DeductionParams):
        return deduction(params, accs, ctx)
    return config(params, accs, ctx)
