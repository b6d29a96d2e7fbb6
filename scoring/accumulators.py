"""Bounded, exact, month-granular pieces of an org's state (docs/scoring-rules.md
sections 3, 4, 9).

Each accumulator folds the events of one signal into buckets keyed by month index (or
day), keeps what older months still contribute in a small snapshot when pruned, and
serialises to plain JSON data (ints, strings, lists, str-keyed dicts) with a ``"t"`` tag so
:func:`accumulator_from_dict` can rebuild it without the catalog.

Pruning contract: ``prune(cutoff_month, latest_ms)`` drops only what no evaluation of a
month >= ``cutoff_month`` (or a live evaluation at a time >= ``latest_ms``) can read, so
pruned and unpruned states give identical records for those months.
"""

from __future__ import annotations

import bisect
import decimal
import operator
from fractions import Fraction
from typing import Any, Protocol, Self

from scoring.errors import InvalidState
from scoring.numbers import (
    EXACT_CONTEXT,
    Amount,
    add_amount,
    decode_number,
    encode_number,
    scale_amount,
)
from scoring.timeutil import DAY_MS, month_start_ms

# A latest-wins value: a number, a boolean (config) or a product list (org.profile).
Value = int | bool | Any


class Accumulator(Protocol):
    """What the fold, pruning and the state codec need of every accumulator; each kind
    reads its own accumulator types through their own methods."""

    def prune(self, cutoff_month: int, latest_ms: int) -> None:
        """Forget what no record of a month >= ``cutoff_month`` (or live at a time >=
        ``latest_ms``) reads; see the module docstring."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data, tagged with ``"t"`` for :func:`accumulator_from_dict`."""
        ...

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Self:
        ...


class MonthSums:
    """Sum of an amount per month; ``base`` holds the total of pruned months. Sums are
    exact ``Amount``s (ints or Decimals); the readers return rationals for evaluation."""

    __slots__ = ("base", "buckets")

    def __init__(self) -> None:
        self.buckets: dict[int, Amount] = {}
        self.base: Amount = 0

    def add(self, month: int, amount: Amount) -> None:
        buckets = self.buckets
        buckets[month] = add_amount(buckets.get(month, 0), amount)

    def amount_through(self, month: int) -> Amount:
        """Exact sum of ``base`` and the buckets up to ``month`` (ints summed directly)."""
        buckets = self.buckets
        if buckets and max(buckets) <= month:  # live: no bucket lies after the latest month
            return _sum_amounts(self.base, list(buckets.values()))
        return _sum_amounts(self.base, [a for m, a in buckets.items() if m <= month])

    def amount_between(self, first: int, last: int) -> Amount:
        """Exact sum of the buckets of months ``first..last`` inclusive."""
        get = self.buckets.get
        return _sum_amounts(0, [a for a in map(get, range(first, last + 1)) if a is not None])

    def prune(self, cutoff_month: int, latest_ms: int) -> None:
        old = [m for m in self.buckets if m < cutoff_month]
        for month in old:
            self.base = add_amount(self.base, self.buckets.pop(month))

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": "sums",
            "base": encode_number(self.base),
            "b": {str(m): encode_number(v) for m, v in self.buckets.items()},
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> MonthSums:
        acc = cls()
        acc.base = decode_number(raw["base"])
        acc.buckets = {int(m): decode_number(v) for m, v in raw["b"].items()}
        return acc


_INTS_ONLY = frozenset({int})


def _sum_amounts(start: Amount, amounts: list[Amount]) -> Amount:
    """Exact ``start + sum(amounts)``: ints (counts, licence gauges) in one C-level sum;
    ints and Decimals in one sum under the exact context (it never rounds, and traps
    Inexact if it ever would); anything with a Fraction pairwise."""
    kinds = set(map(type, amounts))
    kinds.add(type(start))
    if kinds <= _INTS_ONLY:
        return sum(amounts, start)
    if Fraction not in kinds:
        with decimal.localcontext(EXACT_CONTEXT):
            return sum(amounts, start)
    total = start
    for amount in amounts:
        total = add_amount(total, amount)
    return total


_TIME_SEQ = operator.itemgetter(0, 1)


class LatestValues:
    """Latest-wins value (section 9: greatest event time; equal times go to the later arrival,
    i.e. the greater arrival seq), kept as the winning (time_ms, seq, value) of each month.

    Records only ask at a month close (T = start of M+1, entries before T: the winner of
    months <= M) or live (T = the org's latest time, which no entry exceeds: the winner of
    all months), so one entry per month is exact and bounds the history by retention.
    """

    __slots__ = ("buckets",)

    def __init__(self) -> None:
        self.buckets: dict[int, tuple[int, int, Value]] = {}

    def add(self, month: int, time_ms: int, seq: int, value: Value) -> None:
        current = self.buckets.get(month)
        if current is None or (time_ms, seq) > (current[0], current[1]):
            self.buckets[month] = (time_ms, seq, value)

    def value_through(self, month: int) -> tuple[bool, Value]:
        """(found, value) of the winner among months <= ``month``."""
        entries = [entry for m, entry in self.buckets.items() if m <= month]
        if not entries:
            return False, None
        # max() keeps the first of equal keys, as a strict ">" scan does.
        return True, max(entries, key=_TIME_SEQ)[2]

    def prune(self, cutoff_month: int, latest_ms: int) -> None:
        # Older months collapse into their winner, filed under the month before the cutoff.
        old = [m for m in self.buckets if m < cutoff_month]
        if len(old) <= 1 and (not old or old[0] == cutoff_month - 1):
            return
        winner = max((self.buckets.pop(m) for m in old), key=lambda e: (e[0], e[1]))
        self.buckets[cutoff_month - 1] = winner

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": "latest",
            "b": {str(m): [t, s, _encode_value(v)] for m, (t, s, v) in self.buckets.items()},
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LatestValues:
        acc = cls()
        acc.buckets = {
            int(m): (int(t), int(s), _decode_value(v)) for m, (t, s, v) in raw["b"].items()
        }
        return acc


def _encode_value(value: Value) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, tuple | list):
        return {"list": list(value)}
    return encode_number(value)


def _decode_value(raw: Any) -> Value:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, dict):
        return tuple(raw["list"])
    return decode_number(raw)


class MonthMax:
    """Latest matching time per month (recency); ``base`` is the max of pruned months."""

    __slots__ = ("base", "buckets")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.base: int | None = None

    def add(self, month: int, time_ms: int) -> None:
        current = self.buckets.get(month)
        if current is None or time_ms > current:
            self.buckets[month] = time_ms

    def latest_through(self, month: int) -> int | None:
        best = self.base
        for bucket_month, time_ms in self.buckets.items():
            if bucket_month <= month and (best is None or time_ms > best):
                best = time_ms
        return best

    def prune(self, cutoff_month: int, latest_ms: int) -> None:
        for month in [m for m in self.buckets if m < cutoff_month]:
            time_ms = self.buckets.pop(month)
            if self.base is None or time_ms > self.base:
                self.base = time_ms

    def to_dict(self) -> dict[str, Any]:
        return {"t": "max", "base": self.base, "b": {str(m): v for m, v in self.buckets.items()}}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> MonthMax:
        acc = cls()
        acc.base = raw["base"]
        acc.buckets = {int(m): int(v) for m, v in raw["b"].items()}
        return acc


class MonthDays:
    """Days of each month with at least one matching event, as a bitmask (bit d-1 = day d)."""

    __slots__ = ("buckets",)

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}

    def add(self, month: int, time_ms: int) -> None:
        day_index = (time_ms - month_start_ms(month)) // DAY_MS
        self.buckets[month] = self.buckets.get(month, 0) | (1 << day_index)

    def days(self, month: int) -> int:
        return self.buckets.get(month, 0).bit_count()

    def prune(self, cutoff_month: int, latest_ms: int) -> None:
        for month in [m for m in self.buckets if m < cutoff_month]:
            del self.buckets[month]

    def to_dict(self) -> dict[str, Any]:
        return {"t": "days", "b": {str(m): v for m, v in self.buckets.items()}}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> MonthDays:
        acc = cls()
        acc.buckets = {int(m): int(v) for m, v in raw["b"].items()}
        return acc


class MonthSamples:
    """Per month: exact sum of value*count and the number of samples (threshold_average)."""

    __slots__ = ("counts", "sums")

    def __init__(self) -> None:
        self.sums: dict[int, Amount] = {}
        self.counts: dict[int, int] = {}

    def add(self, month: int, value: Amount, count: int) -> None:
        self.sums[month] = add_amount(self.sums.get(month, 0), scale_amount(value, count))
        self.counts[month] = self.counts.get(month, 0) + count

    def prune(self, cutoff_month: int, latest_ms: int) -> None:
        for month in [m for m in self.counts if m < cutoff_month]:
            del self.counts[month]
            del self.sums[month]

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": "samples",
            "b": {str(m): [encode_number(self.sums[m]), c] for m, c in self.counts.items()},
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> MonthSamples:
        acc = cls()
        for m, (total, count) in raw["b"].items():
            acc.sums[int(m)] = decode_number(total)
            acc.counts[int(m)] = int(count)
        return acc


class WindowEvents:
    """Matching events for "in the last N days" (binary indicator).

    Monthly T is a month start (a day boundary) and N is whole days, so counts per UTC day
    (day index = time // 1 day) answer it exactly; live T is the org's latest time, so the
    exact times within N days of it are kept too, in ascending order.
    """

    __slots__ = ("days", "recent", "window_ms")

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self.days: dict[int, int] = {}
        self.recent: list[int] = []

    def add(self, time_ms: int) -> None:
        day = time_ms // DAY_MS
        self.days[day] = self.days.get(day, 0) + 1
        recent = self.recent
        # Kept sorted so a live count is two bisections; times arrive mostly in order,
        # so this is nearly always an append.
        if recent and time_ms < recent[-1]:
            bisect.insort(recent, time_ms)
        else:
            recent.append(time_ms)

    def count_before(self, t_ms: int) -> int:
        """Events with T - N days <= time < T, T a day boundary (monthly records)."""
        first_day = (t_ms - self.window_ms) // DAY_MS
        end_day = t_ms // DAY_MS
        days = self.days
        if end_day - first_day < len(days):
            # The window spans fewer days than are kept (retention keeps ~27 months):
            # look its days up rather than scanning them all.
            get = days.get
            return sum([get(d, 0) for d in range(first_day, end_day)])
        return sum(c for d, c in days.items() if first_day <= d < end_day)

    def count_through(self, t_ms: int) -> int:
        """Events with T - N days <= time <= T (live records)."""
        recent = self.recent
        return bisect.bisect_right(recent, t_ms) - bisect.bisect_left(recent, t_ms - self.window_ms)

    def prune(self, cutoff_month: int, latest_ms: int) -> None:
        first_day = (month_start_ms(cutoff_month) - self.window_ms) // DAY_MS
        self.days = {d: c for d, c in self.days.items() if d >= first_day}
        self.prune_recent(latest_ms)

    def prune_recent(self, latest_ms: int) -> None:
        """Forget exact times a live window ending at or after ``latest_ms`` cannot reach."""
        recent = self.recent
        stale = bisect.bisect_left(recent, latest_ms - self.window_ms)  # sorted: a prefix
        if stale:
            del recent[:stale]

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": "window",
            "w": self.window_ms,
            "d": {str(d): c for d, c in self.days.items()},
            "r": list(self.recent),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> WindowEvents:
        acc = cls(int(raw["w"]))
        acc.days = {int(d): int(c) for d, c in raw["d"].items()}
        acc.recent = sorted(int(t) for t in raw["r"])  # older states kept arrival order
        return acc


_BY_TAG: dict[str, type[Accumulator]] = {
    "sums": MonthSums,
    "latest": LatestValues,
    "max": MonthMax,
    "days": MonthDays,
    "samples": MonthSamples,
    "window": WindowEvents,
}


def accumulator_from_dict(raw: dict[str, Any]) -> Accumulator:
    """Rebuild an accumulator from :meth:`Accumulator.to_dict` data."""
    if not isinstance(raw, dict):
        raise InvalidState(f"an accumulator must be an object, not {type(raw).__name__}")
    tag = raw.get("t")
    cls = _BY_TAG.get(tag) if isinstance(tag, str) else None
    if cls is None:
        raise InvalidState(f"unknown accumulator tag {raw.get('t')!r}")
    return cls.from_dict(raw)
