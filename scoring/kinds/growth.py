"""growth (docs/scoring-rules.md section 4): floor(50 * last / baseline), capped at 100.

``last`` is the count of month M (live: its run rate); the baseline is the mean count of
the 12 months before M (``avg12``) or the count of M-12 (``yoy``). Months before the
org's first month do not exist (sections 4, 9). A zero baseline scores 100 if anything
happened, else 0. The signal keeps one :class:`MonthSums` of counts per month.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from scoring.accumulators import MonthSums
from scoring.kinds.base import (
    EvalContext,
    Evaluator,
    Feed,
    Inputs,
    KindResult,
    SignalKind,
    StableUntil,
    Updater,
    count_per_month_updater,
    typed_feeds,
)
from scoring.numbers import amount_ratio, floor_ratio_clamp, output_ratio
from scoring.timeutil import DAY_MS
from scoring.validation import fail

Variant = Literal["avg12", "yoy"]
VARIANTS: tuple[Variant, ...] = ("avg12", "yoy")

Accumulators = Sequence[MonthSums]


@dataclass(frozen=True, slots=True)
class GrowthParams:
    variant: Variant


class GrowthKind:
    name: ClassVar[str] = "growth"
    feeds_from_params: ClassVar[bool] = False

    def parse(self, raw: Mapping[str, object], path: str) -> GrowthParams:
        raw_variant = raw.get("variant", "avg12")
        variant = next((v for v in VARIANTS if v == raw_variant), None)
        if variant is None:
            raise fail(f"{path}.variant", "must be avg12 or yoy")
        return GrowthParams(variant)

    def feeds(self, params: GrowthParams, event_types: tuple[str, ...]) -> list[Feed]:
        return typed_feeds(event_types)

    def new_accumulators(self, params: GrowthParams) -> list[MonthSums]:
        return [MonthSums()]

    def updater(
        self, params: GrowthParams, event_type: str, slot: int, sign: int
    ) -> Updater[Accumulators]:
        return count_per_month_updater(event_type)

    def evaluator(self, params: GrowthParams) -> Evaluator[Accumulators]:
        yoy = params.variant == "yoy"

        def growth(accs: Accumulators | None, ctx: EvalContext) -> KindResult:
            buckets = accs[0].buckets if accs else {}
            month = ctx.month
            last_n, last_d = amount_ratio(buckets.get(month, 0))
            live = ctx.live
            if live:
                # Run rate: month-to-date x days_in_month / elapsed days (fractional, at
                # least 1 day).
                elapsed_ms = ctx.t_ms - ctx.month_start_ms
                if elapsed_ms > DAY_MS:
                    last_n, last_d = last_n * ctx.month_days * DAY_MS, last_d * elapsed_ms
                else:
                    last_n *= ctx.month_days
            inputs: Inputs = {"last": output_ratio(last_n, last_d)}
            # Months before the org's first month do not exist (sections 4, 9).
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
            if base_n == 0:  # section 4: 100 if anything happened, else 0
                return (100 if last_n > 0 else 0), inputs, live
            return floor_ratio_clamp(50 * last_n * base_d, last_d * base_n), inputs, live

        return growth

    def reads_the_instant(self, params: GrowthParams) -> bool:
        return True  # the live run rate

    def stable_until(self, params: GrowthParams) -> StableUntil[Accumulators] | None:
        return None  # the run rate moves with every millisecond


KIND: SignalKind[GrowthParams, Accumulators] = GrowthKind()
