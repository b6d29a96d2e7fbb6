"""threshold_average (docs/scoring-rules.md section 4): m = the count-weighted mean of
month M's samples; floor(100 (bad - m) / (bad - good)), clamped; no data without samples.
Kept as the exact sum of value x count and the sample count per month in a
:class:`MonthSamples`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from scoring.accumulators import MonthSamples
from scoring.events import Event
from scoring.kinds.base import (
    EvalContext,
    Evaluator,
    Feed,
    KindResult,
    SignalKind,
    StableUntil,
    Updater,
    amount_reader,
    count_reader,
    typed_feeds,
)
from scoring.numbers import Number, amount_ratio, exact, floor_ratio_clamp, output_ratio
from scoring.validation import fail

Accumulators = Sequence[MonthSamples]


@dataclass(frozen=True, slots=True)
class ThresholdAverageParams:
    good: Number
    bad: Number
    field: str


class ThresholdAverageKind:
    name: ClassVar[str] = "threshold_average"
    feeds_from_params: ClassVar[bool] = False

    def parse(self, raw: Mapping[str, object], path: str) -> ThresholdAverageParams:
        try:
            good, bad = exact(raw.get("good")), exact(raw.get("bad"))
        except TypeError:
            raise fail(path, "good and bad must be numbers") from None
        if good >= bad:
            raise fail(f"{path}.good", "must be < bad")
        return ThresholdAverageParams(good, bad, str(raw.get("field", "value")))

    def feeds(self, params: ThresholdAverageParams, event_types: tuple[str, ...]) -> list[Feed]:
        return typed_feeds(event_types)

    def new_accumulators(self, params: ThresholdAverageParams) -> list[MonthSamples]:
        return [MonthSamples()]

    def updater(
        self, params: ThresholdAverageParams, event_type: str, slot: int, sign: int
    ) -> Updater[Accumulators]:
        read_count = count_reader(event_type)
        read_value = amount_reader(params.field, event_type)

        def sample(accs: Accumulators, event: Event, month: int, seq: int) -> None:
            value = read_value(event)
            if value is not None:
                accs[0].add(month, value, read_count(event))

        return sample

    def evaluator(self, params: ThresholdAverageParams) -> Evaluator[Accumulators]:
        bad_n, bad_d = amount_ratio(params.bad)
        good_n, good_d = amount_ratio(params.good)
        # bad - good as a pair (non-zero: the catalog checks good < bad).
        span_n, span_d = bad_n * good_d - good_n * bad_d, bad_d * good_d

        def threshold_average(accs: Accumulators | None, ctx: EvalContext) -> KindResult:
            if not accs:
                return None, {}, False
            acc = accs[0]
            count = acc.counts.get(ctx.month, 0)
            if count == 0:
                return None, {}, False
            total_n, total_d = amount_ratio(acc.sums[ctx.month])
            mean_n, mean_d = total_n, total_d * count
            # 100 (bad - mean) / span, with
            # bad - mean = (bad_n mean_d - mean_n bad_d) / (bad_d mean_d).
            score = floor_ratio_clamp(
                100 * (bad_n * mean_d - mean_n * bad_d) * span_d, bad_d * mean_d * span_n
            )
            return score, {"mean": output_ratio(mean_n, mean_d)}, False

        return threshold_average

    def reads_the_instant(self, params: ThresholdAverageParams) -> bool:
        return False

    def stable_until(self, params: ThresholdAverageParams) -> StableUntil[Accumulators] | None:
        return None


KIND: SignalKind[ThresholdAverageParams, Accumulators] = ThresholdAverageKind()
