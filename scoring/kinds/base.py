"""What every signal kind provides, and the helpers several kinds share.

A kind (docs/scoring-rules.md section 4) is one module of :mod:`scoring.kinds` with one
object implementing :class:`SignalKind`: it parses its catalog ``params`` into a frozen
dataclass, creates a signal's accumulators, builds the fold step that updates them for
one event type (the *updater*) and the evaluator that scores them at an instant T.

An evaluator returns ``(score, inputs, projected)``; ``score`` None means "no data" (the
roll-up applies the catalog policy). Monthly T is the first instant of month M+1 and sees
events with time < T; live T is the org's latest time and sees time <= T (section 3). All
arithmetic is exact and every score is the floor of the exact value, clamped (section 2).

Speed: updaters and evaluators are closures built once per catalog with the kind's
parameters bound (see :mod:`scoring.compiled`); evaluators compute on integer pairs
(:data:`scoring.numbers.Ratio`, never reduced) instead of Fractions, and return ``inputs``
already in record form (:func:`scoring.numbers.output_ratio`: ints, 6-decimal floats,
None, booleans), in the key order of the record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, NamedTuple, Protocol, TypeVar

from scoring.accumulators import Accumulator, MonthSums
from scoring.events import COUNTED_TYPES, Event
from scoring.numbers import Amount, Ratio, fold_amount

Inputs = dict[str, Any]  # record form: int | float | bool | None values
KindResult = tuple["int | None", Inputs, bool]
# (slot, event type, sign): an event of that type feeds accumulator ``slot``, its amount
# multiplied by ``sign`` (+1 / -1, running sums).
Feed = tuple[int, str, int]

ParamsT = TypeVar("ParamsT")
AccsT = TypeVar("AccsT", bound=Sequence[Accumulator])

# An updater folds one matching event into a signal's accumulators:
# (accumulators, event, event month, arrival seq) -> None. Updaters are built per
# (signal, event type) so that per-type facts (does the type define ``count``?) are
# decided once, and they update bucket dicts inline: this is the hot path of the worker.
Updater = Callable[[AccsT, Event, int, int], None]


class EvalContext(NamedTuple):
    """Where a record is evaluated: scored month M, instant T, and whether T itself is
    included (live) or excluded (monthly); ``first_month`` of the org (section 9).
    ``month_start_ms`` and ``month_days`` describe M, computed once per record.
    A named tuple (immutable, and made at a third of a frozen dataclass's cost: a live
    record after an event makes one)."""

    month: int
    t_ms: int
    live: bool
    first_month: int
    month_start_ms: int
    month_days: int


# An evaluator scores a signal's accumulators (None: no event has fed it yet) at ``ctx``.
Evaluator = Callable[[AccsT | None, EvalContext], KindResult]

# For a kind that reads the instant: given a live result at ``ctx``, the first instant
# after ``ctx.t_ms`` at which the result can differ while the accumulators and the month
# stay as they are (a live evaluation reuses the result until then).
StableUntil = Callable[[AccsT | None, EvalContext, KindResult], int]
FOREVER_MS = 1 << 62  # "not before the accumulators or the month change"


class SignalKind(Protocol[ParamsT, AccsT]):
    """One signal kind: ``ParamsT`` is its parameters dataclass, ``AccsT`` the sequence of
    accumulators one signal of the kind keeps (what its updaters and evaluator receive)."""

    name: ClassVar[str]
    # True when the kind's event types come from its params (ratio operands), so the
    # catalog's ``events.types`` must be absent.
    feeds_from_params: ClassVar[bool]

    def parse(self, raw: Mapping[str, object], path: str) -> ParamsT:
        """The checked params (``raw`` is the signal's ``params`` object at ``path``)."""
        ...

    def feeds(self, params: ParamsT, event_types: tuple[str, ...]) -> list[Feed]:
        """Every (slot, event type, sign) feeding a signal of the kind."""
        ...

    def new_accumulators(self, params: ParamsT) -> AccsT:
        """Fresh accumulators of one signal (made on the first event that feeds it)."""
        ...

    def updater(self, params: ParamsT, event_type: str, slot: int, sign: int) -> Updater[AccsT]:
        """The fold step for events of ``event_type`` feeding ``slot`` with ``sign``."""
        ...

    def evaluator(self, params: ParamsT) -> Evaluator[AccsT]:
        """The signal's evaluator, parameters bound."""
        ...

    def reads_the_instant(self, params: ParamsT) -> bool:
        """Whether the result depends on T itself, not only on the accumulators and the
        month M (run rates, windows, days since, days considered): such results are
        never reused from one record to the next."""
        ...

    def stable_until(self, params: ParamsT) -> StableUntil[AccsT] | None:
        """For a kind that reads the instant: when a live result can next change (see
        ``StableUntil``); None when it can change at any later instant, or the kind does
        not read the instant."""
        ...


def typed_feeds(event_types: tuple[str, ...]) -> list[Feed]:
    """The feeds of a one-accumulator kind: every listed type into slot 0, sign +1."""
    return [(0, t, 1) for t in event_types]


def count_reader(event_type: str) -> Callable[[Event], int]:
    """Reads ``count``: 1 when absent or when the type does not define it (section 9:
    count is used only by the types whose data defines it)."""
    if event_type not in COUNTED_TYPES:
        return lambda event: 1

    def read_count(event: Event) -> int:
        count = event.data.get("count", 1)
        return count if type(count) is int else 1

    return read_count


def amount_reader(field_name: str, event_type: str) -> Callable[[Event], Amount | None]:
    """Reads a numeric field exactly (None when absent or a boolean); ``count`` as
    :func:`count_reader` does."""
    if field_name == "count":
        return count_reader(event_type)

    def read_amount(event: Event) -> Amount | None:
        raw = event.data.get(field_name)
        return None if raw is None or isinstance(raw, bool) else fold_amount(raw)

    return read_amount


def count_per_month_updater(event_type: str) -> Updater[Sequence[MonthSums]]:
    """Adds each event's ``count`` to its month's bucket (growth, tiered indicator)."""
    read = count_reader(event_type)

    def count_per_month(accs: Sequence[MonthSums], event: Event, month: int, seq: int) -> None:
        buckets = accs[0].buckets
        buckets[month] = buckets.get(month, 0) + read(event)

    return count_per_month


def clamp(value: int) -> int:
    return max(0, min(100, value))


def tier_score(tiers: tuple[tuple[int, int], ...], count: Ratio) -> int:
    """Score of the last tier whose minimum is <= count; 0 when none matches (section 9)."""
    numerator, denominator = count
    score = 0
    for minimum, score_of_tier in tiers:
        if minimum * denominator <= numerator:
            score = score_of_tier
    return score
