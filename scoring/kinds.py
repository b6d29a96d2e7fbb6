"""Signal kinds (spec section 4): each evaluates one signal's accumulators at T.

An evaluator returns ``(score, inputs, projected)``; ``score`` None means "no data" (the
roll-up applies the catalog policy). Monthly T is the first instant of month M+1 and sees
events with time < T; live T is the org's latest time and sees time <= T (spec 3). All
arithmetic is exact and every score is the floor of the exact value, clamped (spec 2).

Speed (issue 8): :func:`compile_signal` builds one evaluator per signal once per catalog,
with the kind's parameters bound, and evaluators compute on integer pairs
(:data:`scoring.numbers.Ratio`, never reduced) instead of Fractions. ``inputs`` come out
already in record form (:func:`scoring.numbers.output_ratio`: ints, 6-decimal floats,
None, booleans), in the key order of the record.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
from scoring.numbers import Ratio, amount_ratio, floor_ratio_clamp, output_ratio
from scoring.timeutil import DAY_MS
from scoring.timeutil import days_in_month as _days_in_month
from scoring.timeutil import month_start_ms as _month_start_ms

# Calendar arithmetic memoised per month index: live evaluations ask for the same few
# months over and over (pure functions of an int, so a cache changes nothing).
days_in_month = functools.lru_cache(maxsize=1024)(_days_in_month)
month_start_ms = functools.lru_cache(maxsize=1024)(_month_start_ms)

Inputs = dict[str, Any]  # record form: int | float | bool | None values
KindResult = tuple["int | None", Inputs, bool]
Evaluator = Callable[["list[Accumulator] | None", "EvalContext"], KindResult]


@dataclass(frozen=True, slots=True)
class EvalContext:
    """Where a record is evaluated: scored month M, instant T, and whether T itself is
    included (live) or excluded (monthly); ``first_month`` of the org (spec 9)."""

    month: int
    t_ms: int
    live: bool
    first_month: int


def _clamp(value: int) -> int:
    return max(0, min(100, value))


def _tier_score(tiers: tuple[tuple[int, int], ...], count: Ratio) -> int:
    """Score of the last tier whose minimum is <= count; 0 when none matches (spec 9)."""
    numerator, denominator = count
    score = 0
    for minimum, tier_score in tiers:
        if minimum * denominator <= numerator:
            score = tier_score
    return score


def _operand_reader(operand: RatioOperand) -> Callable[[Accumulator | None, int], Ratio]:
    """Reads one ratio operand at month M as an exact pair. The accumulator's own type
    decides how (as the fold built it): latest-wins value, year sum or running sum."""
    year = operand.mode == "year"

    def read(acc: Accumulator | None, month: int) -> Ratio:
        if acc is None:
            return 0, 1  # a gauge never set counts as 0 (spec 9)
        if isinstance(acc, LatestValues):
            found, value = acc.value_through(month)
            if not found or isinstance(value, bool | tuple):
                return 0, 1
            return amount_ratio(value)
        assert isinstance(acc, MonthSums)
        if year:
            return amount_ratio(acc.amount_between(month - 11, month))
        return amount_ratio(acc.amount_through(month))

    return read


def _ratio(params: RatioParams) -> Evaluator:
    """floor(100 * num / den), clamped to 0..100; no data when den = 0."""
    read_num = _operand_reader(params.numerator)
    read_den = _operand_reader(params.denominator)

    def ratio(accs: list[Accumulator] | None, ctx: EvalContext) -> KindResult:
        month = ctx.month
        if accs:
            num_n, num_d = read_num(accs[0], month)
            den_n, den_d = read_den(accs[1], month)
        else:
            num_n = den_n = 0
            num_d = den_d = 1
        inputs: Inputs = {"num": output_ratio(num_n, num_d), "den": output_ratio(den_n, den_d)}
        if den_n == 0:
            return None, inputs, False
        return floor_ratio_clamp(100 * num_n * den_d, num_d * den_n), inputs, False

    return ratio


def _growth(params: GrowthParams) -> Evaluator:
    """floor(50 * last / baseline), cap 100; live ``last`` is the month's run rate."""
    yoy = params.variant == "yoy"

    def growth(accs: list[Accumulator] | None, ctx: EvalContext) -> KindResult:
        counts = accs[0] if accs else None
        assert counts is None or isinstance(counts, MonthSums)
        buckets = {} if counts is None else counts.buckets
        month = ctx.month
        last_n, last_d = amount_ratio(buckets.get(month, 0))
        live = ctx.live
        if live:
            # Run rate: month-to-date x days_in_month / elapsed days (fractional, at
            # least 1 day).
            elapsed_ms = ctx.t_ms - month_start_ms(month)
            if elapsed_ms > DAY_MS:
                last_n, last_d = last_n * days_in_month(month) * DAY_MS, last_d * elapsed_ms
            else:
                last_n *= days_in_month(month)
        inputs: Inputs = {"last": output_ratio(last_n, last_d)}
        # Months before the org's first month do not exist (spec 4, 9).
        first_month = ctx.first_month
        if yoy:
            if month - 12 < first_month:
                return None, inputs, False
            base_n, base_d = amount_ratio(buckets.get(month - 12, 0))
        else:
            start = max(month - 12, first_month)
            if start >= month:
                return None, inputs, False
            history = [buckets.get(m, 0) for m in range(start, month)]
            if all(type(count) is int for count in history):
                base_n, base_d = sum(history), len(history)  # type: ignore[arg-type]
            else:
                base_n, base_d = 0, 1
                for count in history:
                    n, d = amount_ratio(count)
                    base_n, base_d = base_n * d + n * base_d, base_d * d
                base_d *= len(history)
        inputs["baseline"] = output_ratio(base_n, base_d)
        if base_n == 0:  # spec 4: 100 if anything happened, else 0
            return (100 if last_n > 0 else 0), inputs, live
        return floor_ratio_clamp(50 * last_n * base_d, last_d * base_n), inputs, live

    return growth


def _indicator(params: IndicatorParams) -> Evaluator:
    """Binary: 100 when a matching event lies in [T - window, T]; tiers: count in the year."""
    if params.mode == "binary":

        def binary(accs: list[Accumulator] | None, ctx: EvalContext) -> KindResult:
            in_window = 0
            if accs:
                acc = accs[0]
                assert isinstance(acc, WindowEvents)
                t_ms = ctx.t_ms
                in_window = acc.count_through(t_ms) if ctx.live else acc.count_before(t_ms)
            return (100 if in_window > 0 else 0), {"count_in_window": in_window}, False

        return binary

    tiers = params.tiers

    def tiered(accs: list[Accumulator] | None, ctx: EvalContext) -> KindResult:
        count: Ratio = (0, 1)
        if accs:
            acc = accs[0]
            assert isinstance(acc, MonthSums)
            count = amount_ratio(acc.amount_between(ctx.month - 11, ctx.month))
        return _tier_score(tiers, count), {"count": output_ratio(*count)}, False

    return tiered


def _recency(params: RecencyParams) -> Evaluator:
    """First tier with days_since <= max_days; never seen or past every tier -> 0."""
    tiers = params.tiers

    def recency(accs: list[Accumulator] | None, ctx: EvalContext) -> KindResult:
        latest = None
        if accs:
            acc = accs[0]
            assert isinstance(acc, MonthMax)
            latest = acc.latest_through(ctx.month)
        if latest is None:
            return 0, {"days_since": None}, False
        days_since = (ctx.t_ms - latest) // DAY_MS
        score = 0
        for max_days, tier_score in tiers:
            if days_since <= max_days:
                score = tier_score
                break
        return score, {"days_since": days_since}, False

    return recency


def _error_free_days(params: ErrorFreeDaysParams) -> Evaluator:
    """floor(100 * days without a matching event / days considered) over month M."""

    def error_free_days(accs: list[Accumulator] | None, ctx: EvalContext) -> KindResult:
        month = ctx.month
        considered = days_in_month(month)
        if ctx.live:
            considered = min(considered, (ctx.t_ms - month_start_ms(month)) // DAY_MS + 1)
        error_days = 0
        if accs:
            acc = accs[0]
            assert isinstance(acc, MonthDays)
            error_days = acc.days(month)
        score = floor_ratio_clamp(100 * (considered - error_days), considered)
        return score, {"error_days": error_days, "days_considered": considered}, False

    return error_free_days


def _threshold_average(params: ThresholdAverageParams) -> Evaluator:
    """m = count-weighted mean of the month's samples; floor(100 (bad - m) / (bad - good))."""
    bad_n, bad_d = amount_ratio(params.bad)
    good_n, good_d = amount_ratio(params.good)
    # bad - good as a pair (non-zero: the catalog checks good < bad).
    span_n, span_d = bad_n * good_d - good_n * bad_d, bad_d * good_d

    def threshold_average(accs: list[Accumulator] | None, ctx: EvalContext) -> KindResult:
        if not accs:
            return None, {}, False
        acc = accs[0]
        assert isinstance(acc, MonthSamples)
        count = acc.counts.get(ctx.month, 0)
        if count == 0:
            return None, {}, False
        total_n, total_d = amount_ratio(acc.sums[ctx.month])
        mean_n, mean_d = total_n, total_d * count
        # 100 (bad - mean) / span, with bad - mean = (bad_n mean_d - mean_n bad_d) / (bad_d mean_d).
        score = floor_ratio_clamp(
            100 * (bad_n * mean_d - mean_n * bad_d) * span_d, bad_d * mean_d * span_n
        )
        return score, {"mean": output_ratio(mean_n, mean_d)}, False

    return threshold_average


def _deduction(params: DeductionParams) -> Evaluator:
    """100 minus the points of the month's matching events, floored at 0."""

    def deduction(accs: list[Accumulator] | None, ctx: EvalContext) -> KindResult:
        points: Ratio = (0, 1)
        if accs:
            acc = accs[0]
            assert isinstance(acc, MonthSums)
            points = amount_ratio(acc.buckets.get(ctx.month, 0))
        points_n, points_d = points
        score = _clamp((100 * points_d - points_n) // points_d)
        return score, {"points": output_ratio(points_n, points_d)}, False

    return deduction


def _config(params: ConfigParams) -> Evaluator:
    """Latest value at T: true 100, false 0, a number floor(value) clamped; never set: no data."""

    def config(accs: list[Accumulator] | None, ctx: EvalContext) -> KindResult:
        if not accs:
            return None, {}, False
        acc = accs[0]
        assert isinstance(acc, LatestValues)
        found, value = acc.value_through(ctx.month)
        if not found:
            return None, {}, False
        if isinstance(value, bool):
            return (100 if value else 0), {"value": value}, False
        value_n, value_d = amount_ratio(value)
        return _clamp(value_n // value_d), {"value": output_ratio(value_n, value_d)}, False

    return config


def reads_the_instant(signal: Signal) -> bool:
    """Whether the signal's result depends on T itself, not only on its accumulators and
    the month M: run rates, windows, days since, days considered."""
    params = signal.params
    if isinstance(params, IndicatorParams):
        return params.mode == "binary"
    return isinstance(params, GrowthParams | RecencyParams | ErrorFreeDaysParams)


def compile_signal(signal: Signal) -> Evaluator:
    """The evaluator of ``signal``: ``(accumulators or None, ctx) -> KindResult``."""
    params = signal.params
    if isinstance(params, RatioParams):
        return _ratio(params)
    if isinstance(params, GrowthParams):
        return _growth(params)
    if isinstance(params, IndicatorParams):
        return _indicator(params)
    if isinstance(params, RecencyParams):
        return _recency(params)
    if isinstance(params, ErrorFreeDaysParams):
        return _error_free_days(params)
    if isinstance(params, ThresholdAverageParams):
        return _threshold_average(params)
    if isinstance(params, DeductionParams):
        return _deduction(params)
    return _config(params)
