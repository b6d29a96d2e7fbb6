"""recency (docs/scoring-rules.md section 4): days since the latest matching event before
T; the score of the first tier with days_since <= max_days, 0 when never seen or past
every tier. Kept as the latest time per month in a :class:`MonthMax`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from scoring.accumulators import MonthMax
from scoring.events import Event
from scoring.kinds.base import (
    FOREVER_MS,
    EvalContext,
    Evaluator,
    Feed,
    KindResult,
    SignalKind,
    StableUntil,
    Updater,
    typed_feeds,
)
from scoring.timeutil import DAY_MS
from scoring.validation import tiers

Accumulators = Sequence[MonthMax]


@dataclass(frozen=True, slots=True)
class RecencyParams:
    tiers: tuple[tuple[int, int], ...]  # (max_days, score), ascending


def _latest_time(accs: Accumulators, event: Event, month: int, seq: int) -> None:
    accs[0].add(month, event.time_ms)


def _recency_stable_until(accs: Accumulators | None, ctx: EvalContext, result: KindResult) -> int:
    """``days_since = (T - latest) // 1 day`` moves at ``latest + (days_since + 1)`` days."""
    latest = accs[0].latest_through(ctx.month) if accs else None
    if latest is None:
        return FOREVER_MS
    return latest + ((ctx.t_ms - latest) // DAY_MS + 1) * DAY_MS


class RecencyKind:
    name: ClassVar[str] = "recency"
    feeds_from_params: ClassVar[bool] = False

    def parse(self, raw: Mapping[str, object], path: str) -> RecencyParams:
        return RecencyParams(tiers(raw.get("tiers"), f"{path}.tiers"))

    def feeds(self, params: RecencyParams, event_types: tuple[str, ...]) -> list[Feed]:
        return typed_feeds(event_types)

    def new_accumulators(self, params: RecencyParams) -> list[MonthMax]:
        return [MonthMax()]

    def updater(
        self, params: RecencyParams, event_type: str, slot: int, sign: int
    ) -> Updater[Accumulators]:
        return _latest_time

    def evaluator(self, params: RecencyParams) -> Evaluator[Accumulators]:
        score_tiers = params.tiers

        def recency(accs: Accumulators | None, ctx: EvalContext) -> KindResult:
            latest = accs[0].latest_through(ctx.month) if accs else None
            if latest is None:
                return 0, {"days_since": None}, False
            days_since = (ctx.t_ms - latest) // DAY_MS
            score = 0
            for max_days, score_of_tier in score_tiers:
                if days_since <= max_days:
                    score = score_of_tier
                    break
            return score, {"days_since": days_since}, False

        return recency

    def reads_the_instant(self, params: RecencyParams) -> bool:
        return True  # days since counts to T

    def stable_until(self, params: RecencyParams) -> StableUntil[Accumulators] | None:
        return _recency_stable_until


KIND: SignalKind[RecencyParams, Accumulators] = RecencyKind()
