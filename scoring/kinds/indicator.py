"""indicator (docs/scoring-rules.md section 4), in two modes.

- ``binary``: 100 when a matching event lies in the last ``window_days`` days before T
  (monthly: [T - window, T); live: [T - window, T]), else 0. Kept in a
  :class:`WindowEvents`.
- ``tiers``: the score of the last tier whose minimum is <= the count of matching events
  over months M-11..M. Kept as counts per month in a :class:`MonthSums`.

Each mode is a typed kind of its own (:data:`BINARY`, :data:`TIERED`); :data:`KIND`, the
catalog's ``indicator``, hands every call to the mode a signal's params name.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal, cast

from scoring.accumulators import Accumulator, MonthSums, WindowEvents
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
    count_per_month_updater,
    tier_score,
    typed_feeds,
)
from scoring.numbers import Ratio, amount_ratio, output_ratio
from scoring.timeutil import DAY_MS
from scoring.validation import fail, tiers

Mode = Literal["binary", "tiers"]
DEFAULT_WINDOW_DAYS = 30


@dataclass(frozen=True, slots=True)
class IndicatorParams:
    mode: Mode
    window_days: int  # binary only
    tiers: tuple[tuple[int, int], ...]  # tiers only: (minimum count, score), ascending


def _parse(raw: Mapping[str, object], path: str) -> IndicatorParams:
    mode = raw.get("mode")
    if mode == "binary":
        window = raw.get("window_days", DEFAULT_WINDOW_DAYS)
        if not isinstance(window, int) or isinstance(window, bool) or window < 0:
            raise fail(f"{path}.window_days", "must be an integer >= 0")
        return IndicatorParams("binary", window, ())
    if mode == "tiers":
        return IndicatorParams("tiers", 0, tiers(raw.get("tiers"), f"{path}.tiers"))
    raise fail(f"{path}.mode", "must be binary or tiers")


def _window_stable_until(
    accs: Sequence[WindowEvents] | None, ctx: EvalContext, result: KindResult
) -> int:
    """The live count (events in [T - N days, T]; none after T, the org's latest time)
    drops when T - N days passes the oldest event still in the window."""
    if not accs:
        return FOREVER_MS
    acc = accs[0]
    recent = acc.recent
    oldest = bisect.bisect_left(recent, ctx.t_ms - acc.window_ms)
    return FOREVER_MS if oldest == len(recent) else recent[oldest] + acc.window_ms + 1


class BinaryIndicator:
    name: ClassVar[str] = "indicator"
    feeds_from_params: ClassVar[bool] = False

    def parse(self, raw: Mapping[str, object], path: str) -> IndicatorParams:
        return _parse(raw, path)

    def feeds(self, params: IndicatorParams, event_types: tuple[str, ...]) -> list[Feed]:
        return typed_feeds(event_types)

    def new_accumulators(self, params: IndicatorParams) -> list[WindowEvents]:
        return [WindowEvents(params.window_days * DAY_MS)]

    def updater(
        self, params: IndicatorParams, event_type: str, slot: int, sign: int
    ) -> Updater[Sequence[WindowEvents]]:
        def window_event(accs: Sequence[WindowEvents], event: Event, month: int, seq: int) -> None:
            accs[0].add(event.time_ms)

        return window_event

    def evaluator(self, params: IndicatorParams) -> Evaluator[Sequence[WindowEvents]]:
        def binary(accs: Sequence[WindowEvents] | None, ctx: EvalContext) -> KindResult:
            in_window = 0
            if accs:
                acc = accs[0]
                t_ms = ctx.t_ms
                in_window = acc.count_through(t_ms) if ctx.live else acc.count_before(t_ms)
            return (100 if in_window > 0 else 0), {"count_in_window": in_window}, False

        return binary

    def reads_the_instant(self, params: IndicatorParams) -> bool:
        return True  # the window ends at T

    def stable_until(self, params: IndicatorParams) -> StableUntil[Sequence[WindowEvents]] | None:
        return _window_stable_until


class TieredIndicator:
    name: ClassVar[str] = "indicator"
    feeds_from_params: ClassVar[bool] = False

    def parse(self, raw: Mapping[str, object], path: str) -> IndicatorParams:
        return _parse(raw, path)

    def feeds(self, params: IndicatorParams, event_types: tuple[str, ...]) -> list[Feed]:
        return typed_feeds(event_types)

    def new_accumulators(self, params: IndicatorParams) -> list[MonthSums]:
        return [MonthSums()]

    def updater(
        self, params: IndicatorParams, event_type: str, slot: int, sign: int
    ) -> Updater[Sequence[MonthSums]]:
        return count_per_month_updater(event_type)

    def evaluator(self, params: IndicatorParams) -> Evaluator[Sequence[MonthSums]]:
        score_tiers = params.tiers

        def tiered(accs: Sequence[MonthSums] | None, ctx: EvalContext) -> KindResult:
            count: Ratio = (0, 1)
            if accs:
                count = amount_ratio(accs[0].amount_between(ctx.month - 11, ctx.month))
            return tier_score(score_tiers, count), {"count": output_ratio(*count)}, False

        return tiered

    def reads_the_instant(self, params: IndicatorParams) -> bool:
        return False

    def stable_until(self, params: IndicatorParams) -> StableUntil[Sequence[MonthSums]] | None:
        return None


BINARY: SignalKind[IndicatorParams, Sequence[WindowEvents]] = BinaryIndicator()
TIERED: SignalKind[IndicatorParams, Sequence[MonthSums]] = TieredIndicator()

Accumulators = Sequence[Accumulator]


class IndicatorKind:
    """The catalog kind: each call goes to the mode of ``params``. The casts below are
    the one place the two modes' accumulator types meet: a signal's accumulators are
    always made by its own mode's ``new_accumulators``, so each mode only ever receives
    its own."""

    name: ClassVar[str] = "indicator"
    feeds_from_params: ClassVar[bool] = False

    def parse(self, raw: Mapping[str, object], path: str) -> IndicatorParams:
        return _parse(raw, path)

    def feeds(self, params: IndicatorParams, event_types: tuple[str, ...]) -> list[Feed]:
        return typed_feeds(event_types)

    def new_accumulators(self, params: IndicatorParams) -> Accumulators:
        if params.mode == "binary":
            return BINARY.new_accumulators(params)
        return TIERED.new_accumulators(params)

    def updater(
        self, params: IndicatorParams, event_type: str, slot: int, sign: int
    ) -> Updater[Accumulators]:
        if params.mode == "binary":
            return cast(Updater[Accumulators], BINARY.updater(params, event_type, slot, sign))
        return cast(Updater[Accumulators], TIERED.updater(params, event_type, slot, sign))

    def evaluator(self, params: IndicatorParams) -> Evaluator[Accumulators]:
        if params.mode == "binary":
            return cast(Evaluator[Accumulators], BINARY.evaluator(params))
        return cast(Evaluator[Accumulators], TIERED.evaluator(params))

    def reads_the_instant(self, params: IndicatorParams) -> bool:
        mode = BINARY if params.mode == "binary" else TIERED
        return mode.reads_the_instant(params)

    def stable_until(self, params: IndicatorParams) -> StableUntil[Accumulators] | None:
        if params.mode == "binary":
            return cast(StableUntil[Accumulators], BINARY.stable_until(params))
        return cast(StableUntil[Accumulators], TIERED.stable_until(params))


KIND: SignalKind[IndicatorParams, Accumulators] = IndicatorKind()
