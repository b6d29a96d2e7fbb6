"""config (docs/scoring-rules.md section 4): the latest value of ``field`` at T: true 100,
false 0, a number floor(value) clamped to 0..100; never set: no data. Kept latest-wins in
a :class:`LatestValues`; the setting itself is a ``where`` filter of the catalog.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from scoring.accumulators import LatestValues
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
from scoring.numbers import amount_ratio, fold_amount, output_ratio

Accumulators = Sequence[LatestValues]


@dataclass(frozen=True, slots=True)
class ConfigParams:
    field: str


def _config(accs: Accumulators | None, ctx: EvalContext) -> KindResult:
    if not accs:
        return None, {}, False
    found, value = accs[0].value_through(ctx.month)
    if not found:
        return None, {}, False
    if isinstance(value, bool):
        return (100 if value else 0), {"value": value}, False
    value_n, value_d = amount_ratio(value)
    return clamp(value_n // value_d), {"value": output_ratio(value_n, value_d)}, False


class ConfigKind:
    name: ClassVar[str] = "config"
    feeds_from_params: ClassVar[bool] = False

    def parse(self, raw: Mapping[str, object], path: str) -> ConfigParams:
        return ConfigParams(str(raw.get("field", "value")))

    def feeds(self, params: ConfigParams, event_types: tuple[str, ...]) -> list[Feed]:
        return typed_feeds(event_types)

    def new_accumulators(self, params: ConfigParams) -> list[LatestValues]:
        return [LatestValues()]

    def updater(
        self, params: ConfigParams, event_type: str, slot: int, sign: int
    ) -> Updater[Accumulators]:
        config_field = params.field

        def set_value(accs: Accumulators, event: Event, month: int, seq: int) -> None:
            if config_field not in event.data:
                return
            raw = event.data[config_field]
            value = raw if isinstance(raw, bool) else fold_amount(raw)
            accs[0].add(month, event.time_ms, seq, value)

        return set_value

    def evaluator(self, params: ConfigParams) -> Evaluator[Accumulators]:
        return _config

    def reads_the_instant(self, params: ConfigParams) -> bool:
        return False

    def stable_until(self, params: ConfigParams) -> StableUntil[Accumulators] | None:
        return None


KIND: SignalKind[ConfigParams, Accumulators] = ConfigKind()
