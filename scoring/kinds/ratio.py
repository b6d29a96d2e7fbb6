"""ratio (docs/scoring-rules.md section 4): floor(100 * num / den), clamped to 0..100; no
data when den = 0.

Each operand is a running signed sum (gauges such as licences: ``running``), a sum over
months M-11..M (``year``) or the latest value of a field (``latest``, latest wins; a gauge
never set counts as 0). An operand's accumulator is a :class:`MonthSums` for the sums and
a :class:`LatestValues` for ``latest``, slot 0 the numerator and slot 1 the denominator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from scoring.accumulators import LatestValues, MonthSums
from scoring.events import Event
from scoring.kinds.base import (
    EvalContext,
    Evaluator,
    Feed,
    Inputs,
    KindResult,
    SignalKind,
    StableUntil,
    Updater,
    amount_reader,
)
from scoring.numbers import (
    Ratio,
    add_amount,
    amount_ratio,
    floor_ratio_clamp,
    negate_amount,
    output_ratio,
)
from scoring.validation import fail, mapping, non_empty_str, str_list

OperandMode = Literal["running", "year", "latest"]
OPERAND_MODES: tuple[OperandMode, ...] = ("running", "year", "latest")

OperandAccumulator = MonthSums | LatestValues
Accumulators = Sequence[OperandAccumulator]


@dataclass(frozen=True, slots=True)
class RatioOperand:
    """One side of a ratio: a running signed sum (gauge), a sum over the year, or the
    latest value of a field (gauge, latest wins)."""

    mode: OperandMode
    add: tuple[str, ...]
    subtract: tuple[str, ...]
    field: str


@dataclass(frozen=True, slots=True)
class RatioParams:
    numerator: RatioOperand
    denominator: RatioOperand


def _operand(value: object, path: str) -> RatioOperand:
    obj = mapping(value, path)
    raw_mode = obj.get("mode")
    mode = next((m for m in OPERAND_MODES if m == raw_mode), None)
    if mode is None:
        raise fail(f"{path}.mode", f"must be one of {', '.join(OPERAND_MODES)}")
    add = str_list(obj.get("add"), f"{path}.add")
    subtract = str_list(obj.get("subtract"), f"{path}.subtract", allow_empty=True)
    if mode == "latest" and subtract:
        raise fail(f"{path}.subtract", "a latest-value operand cannot subtract")
    return RatioOperand(mode, add, subtract, non_empty_str(obj, "field", path))


def _operand_reader(operand: RatioOperand) -> Callable[[OperandAccumulator | None, int], Ratio]:
    """Reads one ratio operand at month M as an exact pair. The accumulator's own type
    decides how (as the fold built it): latest-wins value, year sum or running sum."""
    year = operand.mode == "year"

    def read(acc: OperandAccumulator | None, month: int) -> Ratio:
        if acc is None:
            return 0, 1  # a gauge never set counts as 0 (section 9)
        if isinstance(acc, LatestValues):
            found, value = acc.value_through(month)
            if not found or isinstance(value, bool | tuple):
                return 0, 1
            return amount_ratio(value)
        if year:
            return amount_ratio(acc.amount_between(month - 11, month))
        return amount_ratio(acc.amount_through(month))

    return read


class RatioKind:
    name: ClassVar[str] = "ratio"
    feeds_from_params: ClassVar[bool] = True

    def parse(self, raw: Mapping[str, object], path: str) -> RatioParams:
        return RatioParams(
            _operand(raw.get("numerator"), f"{path}.numerator"),
            _operand(raw.get("denominator"), f"{path}.denominator"),
        )

    def feeds(self, params: RatioParams, event_types: tuple[str, ...]) -> list[Feed]:
        feeds: list[Feed] = []
        for slot, operand in enumerate((params.numerator, params.denominator)):
            feeds.extend((slot, t, 1) for t in operand.add)
            feeds.extend((slot, t, -1) for t in operand.subtract)
        return feeds

    def new_accumulators(self, params: RatioParams) -> list[OperandAccumulator]:
        return [
            LatestValues() if operand.mode == "latest" else MonthSums()
            for operand in (params.numerator, params.denominator)
        ]

    def updater(
        self, params: RatioParams, event_type: str, slot: int, sign: int
    ) -> Updater[Accumulators]:
        operand = params.numerator if slot == 0 else params.denominator
        read = amount_reader(operand.field, event_type)
        if operand.mode == "latest":

            def update_latest(accs: Accumulators, event: Event, month: int, seq: int) -> None:
                amount = read(event)
                if amount is not None:
                    acc = accs[slot]
                    if type(acc) is LatestValues:  # always: new_accumulators made it so
                        acc.add(month, event.time_ms, seq, amount)

            return update_latest

        def update_sum(accs: Accumulators, event: Event, month: int, seq: int) -> None:
            amount = read(event)
            acc = accs[slot]
            if amount is not None and type(acc) is MonthSums:  # always MonthSums, as above
                buckets = acc.buckets
                buckets[month] = add_amount(
                    buckets.get(month, 0), amount if sign > 0 else negate_amount(amount)
                )

        return update_sum

    def evaluator(self, params: RatioParams) -> Evaluator[Accumulators]:
        read_num = _operand_reader(params.numerator)
        read_den = _operand_reader(params.denominator)

        def ratio(accs: Accumulators | None, ctx: EvalContext) -> KindResult:
            month = ctx.month
            if accs:
                num_n, num_d = read_num(accs[0], month)
                den_n, den_d = read_den(accs[1], month)
            else:
                num_n = den_n = 0
                num_d = den_d = 1
            inputs: Inputs = {
                "num": output_ratio(num_n, num_d),
                "den": output_ratio(den_n, den_d),
            }
            if den_n == 0:
                return None, inputs, False
            return floor_ratio_clamp(100 * num_n * den_d, num_d * den_n), inputs, False

        return ratio

    def reads_the_instant(self, params: RatioParams) -> bool:
        return False

    def stable_until(self, params: RatioParams) -> StableUntil[Accumulators] | None:
        return None


KIND: SignalKind[RatioParams, Accumulators] = RatioKind()
