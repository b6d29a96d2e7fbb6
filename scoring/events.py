"""The validated event handed to the scoring core (spec section 7).

The shell (``streams.decoding``) turns record bytes into these; the core only folds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

CLOCK_TICK = "clock.tick"


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
