"""error_free_days (docs/scoring-rules.md section 4): floor(100 * days of month M without
a matching event / days considered); a live record considers the days up to T's day.
Kept as a day bitmask per month in a :class:`MonthDays`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from scoring.accumulators import MonthDays
from scoring.events import Event
from scoring.kinds.base import (
    EvalContext,
    Evaluator,
    Feed,
    KindResult,
    SignalKind,
    StableUntil,
    Updater,
    typed_feeds,
)
from scoring.numbers import floor_ratio_clamp
from scoring.timeutil import DAY_MS

Accumulators = Sequence[MonthDays]


@dataclass(frozen=True, slots=True)
class ErrorFreeDaysParams:
    pass


def _error_day(accs: Accumulators, event: Event, month: int, seq: int) -> None:
    accs[0].add(month, event.time_ms)


def _error_free_days(accs: Accumulators | None, ctx: EvalContext) -> KindResult:
    considered = ctx.month_days
    if ctx.live:
        considered = min(considered, (ctx.t_ms - ctx.month_start_ms) // DAY_MS + 1)
    error_days = accs[0].days(ctx.month) if accs else 0
    score = floor_ratio_clamp(100 * (considered - error_days), considered)
    return score, {"error_days": error_days, "days_considered": considered}, False


def _considered_stable_until(
    accs: Accumulators | None, ctx: EvalContext, result: KindResult
) -> int:
    """The live days considered move at the next UTC midnight of the month."""
    start = ctx.month_start_ms
    return start + ((ctx.t_ms - start) // DAY_MS + 1) * DAY_MS


class ErrorFreeDaysKind:
    name: ClassVar[str] = "error_free_days"
    feeds_from_params: ClassVar[bool] = False

    def parse(self, raw: Mapping[str, object], path: str) -> ErrorFreeDaysParams:
        return ErrorFreeDaysParams()

    def feeds(self, params: ErrorFreeDaysParams, event_types: tuple[str, ...]) -> list[Feed]:
        return typed_feeds(event_types)

    def new_accumulators(self, params: ErrorFreeDaysParams) -> list[MonthDays]:
        return [MonthDays()]

    def updater(
        self, params: ErrorFreeDaysParams, event_type: str, slot: int, sign: int
    ) -> Updater[Accumulators]:
        return _error_day

    def evaluator(self, params: ErrorFreeDaysParams) -> Evaluator[Accumulators]:
        return _error_free_days

    def reads_the_instant(self, params: ErrorFreeDaysParams) -> bool:
        return True  # a live record considers the days up to T

    def stable_until(self, params: ErrorFreeDaysParams) -> StableUntil[Accumulators] | None:
        return _considered_stable_until


KIND: SignalKind[ErrorFreeDaysParams, Accumulators] = ErrorFreeDaysKind()
