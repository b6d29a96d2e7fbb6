"""deduction (docs/scoring-rules.md section 4): 100 minus the points of month M's matching
events (points per value of ``field``, 0 for a value the catalog does not list), floored
at 0. Kept as points per month in a :class:`MonthSums`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from scoring.accumulators import MonthSums
from scoring.events import Event
from scoring.kinds.base import (
    EvalContext,
    Evaluator,
    Feed,
    KindResult,
    SignalKind,
    StableUntil,
    Updater,
    clamp,
    typed_feeds,
)
from scoring.numbers import Number, Ratio, add_amount, amount_ratio, exact, output_ratio
from scoring.validation import fail, mapping

Accumulators = Sequence[MonthSums]


@dataclass(frozen=True, slots=True)
class DeductionParams:
    field: str
    points: Mapping[str, Number]


def _deduction(accs: Accumulators | None, ctx: EvalContext) -> KindResult:
    points: Ratio = (0, 1)
    if accs:
        points = amount_ratio(accs[0].buckets.get(ctx.month, 0))
    points_n, points_d = points
    score = clamp((100 * points_d - points_n) // points_d)
    return score, {"points": output_ratio(points_n, points_d)}, False


class DeductionKind:
    name: ClassVar[str] = "deduction"
    feeds_from_params: ClassVar[bool] = False

    def parse(self, raw: Mapping[str, object], path: str) -> DeductionParams:
        points_raw = mapping(raw.get("points"), f"{path}.points")
        points: dict[str, Number] = {}
        for key, value in points_raw.items():
            try:
                number = exact(value)
            except TypeError:
                raise fail(f"{path}.points.{key}", "must be a number") from None
            if number < 0:
                raise fail(f"{path}.points.{key}", "must be >= 0")
            points[key] = number
        return DeductionParams(str(raw.get("field", "severity")), points)

    def feeds(self, params: DeductionParams, event_types: tuple[str, ...]) -> list[Feed]:
        return typed_feeds(event_types)

    def new_accumulators(self, params: DeductionParams) -> list[MonthSums]:
        return [MonthSums()]

    def updater(
        self, params: DeductionParams, event_type: str, slot: int, sign: int
    ) -> Updater[Accumulators]:
        points, key_field = params.points, params.field

        def deduct(accs: Accumulators, event: Event, month: int, seq: int) -> None:
            key = event.data.get(key_field)
            amount = points.get(key, 0) if isinstance(key, str) else 0
            if amount:
                buckets = accs[0].buckets
                buckets[month] = add_amount(buckets.get(month, 0), amount)

        return deduct

    def evaluator(self, params: DeductionParams) -> Evaluator[Accumulators]:
        return _deduction

    def reads_the_instant(self, params: DeductionParams) -> bool:
        return False

    def stable_until(self, params: DeductionParams) -> StableUntil[Accumulators] | None:
        return None


KIND: SignalKind[DeductionParams, Accumulators] = DeductionKind()
