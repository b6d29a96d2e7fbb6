"""The validated event handed to the scoring core (docs/scoring-rules.md section 7).

The shell (``streams.codec.decoding``) turns record bytes into these; the core only folds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

CLOCK_TICK = "clock.tick"

# Event types whose data defines ``count`` (section 7); for the others every event counts 1
# (section 9: "count is used only by the types whose data defines it").
COUNTED_TYPES = frozenset(
    {
        "license.activated",
        "license.deactivated",
        "work_order.created",
        "case.created",
        "order.placed",
        "error.occurred",
        "performance.sampled",
    }
)


@dataclass(frozen=True, slots=True)
class Event:
    """One accepted-by-the-decoder CloudEvent.

    ``data`` holds the validated type-specific fields (unknown fields are dropped).
    Numbers are ``int`` for JSON integer literals; non-integer numbers may stay ``float``
    (the core converts with ``Fraction(repr(x))``, exact for <= 15 significant digits);
    booleans stay ``bool``. Optional fields may be absent (e.g. ``count`` defaults to 1
    and is read with ``data.get("count", 1)``).
    """

    type: str
    subject: str
    source: str
    id: str
    time_ms: int
    data: Mapping[str, object]

    @property
    def is_tick(self) -> bool:
        return self.type == CLOCK_TICK
