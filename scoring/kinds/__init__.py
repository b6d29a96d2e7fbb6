"""The signal kinds of docs/scoring-rules.md section 4, one module each.

Every module holds its kind's params dataclass, the parsing of its catalog ``params``, its
accumulators and fold step (updater), its evaluation, ``reads_the_instant`` and
``stable_until``, behind the :class:`~scoring.kinds.base.SignalKind` protocol.
:data:`KINDS` is the registry the catalog (parsing) and :mod:`scoring.compiled` (fold and
evaluation plans) look kinds up in; adding a kind is one module plus one entry here.
"""

from __future__ import annotations

from typing import Any

from scoring.kinds import (
    config,
    deduction,
    error_free_days,
    growth,
    indicator,
    ratio,
    recency,
    threshold_average,
)
from scoring.kinds.base import (
    FOREVER_MS,
    EvalContext,
    Evaluator,
    Inputs,
    KindResult,
    SignalKind,
    StableUntil,
    Updater,
)
from scoring.kinds.config import ConfigParams
from scoring.kinds.deduction import DeductionParams
from scoring.kinds.error_free_days import ErrorFreeDaysParams
from scoring.kinds.growth import GrowthParams
from scoring.kinds.indicator import IndicatorParams
from scoring.kinds.ratio import RatioOperand, RatioParams
from scoring.kinds.recency import RecencyParams
from scoring.kinds.threshold_average import ThresholdAverageParams

KindParams = (
    RatioParams
    | GrowthParams
    | IndicatorParams
    | RecencyParams
    | ErrorFreeDaysParams
    | ThresholdAverageParams
    | DeductionParams
    | ConfigParams
)

# Kind name -> kind, in catalog documentation order. The values are typed loosely
# (``Any``) because each kind has its own params and accumulator types; each module's
# ``KIND`` is checked against the protocol with its precise types.
KINDS: dict[str, SignalKind[Any, Any]] = {
    kind.name: kind
    for kind in (
        ratio.KIND,
        growth.KIND,
        indicator.KIND,
        recency.KIND,
        error_free_days.KIND,
        threshold_average.KIND,
        deduction.KIND,
        config.KIND,
    )
}

__all__ = [
    "FOREVER_MS",
    "KINDS",
    "ConfigParams",
    "DeductionParams",
    "ErrorFreeDaysParams",
    "EvalContext",
    "Evaluator",
    "GrowthParams",
    "IndicatorParams",
    "Inputs",
    "KindParams",
    "KindResult",
    "RatioOperand",
    "RatioParams",
    "RecencyParams",
    "SignalKind",
    "StableUntil",
    "ThresholdAverageParams",
    "Updater",
]
