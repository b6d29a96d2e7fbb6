"""Checks shared by the catalog and the signal kinds' parameter parsers.

Each helper returns the checked value or raises :class:`~scoring.errors.CatalogError`
whose message starts with the JSON path of the offending field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

from scoring.errors import CatalogError
from scoring.numbers import exact


def fail(path: str, problem: str) -> CatalogError:
    return CatalogError(f"{path}: {problem}")


def non_empty_str(
    obj: Mapping[str, object], key: str, path: str, default: str | None = None
) -> str:
    value = obj.get(key, default)
    if not isinstance(value, str) or not value:
        raise fail(f"{path}.{key}", "must be a non-empty string")
    return value


def positive(value: object, path: str) -> Fraction:
    try:
        number = exact(value)
    except TypeError:
        raise fail(path, "must be a number") from None
    if number <= 0:
        raise fail(path, "must be > 0")
    return Fraction(number)


def tiers(value: object, path: str) -> tuple[tuple[int, int], ...]:
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        raise fail(path, "must be a non-empty list of [threshold, score] pairs")
    checked: list[tuple[int, int]] = []
    for i, pair in enumerate(value):
        if (
            not isinstance(pair, Sequence)
            or isinstance(pair, str)
            or len(pair) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in pair)
        ):
            raise fail(f"{path}[{i}]", "must be a pair of integers [threshold, score]")
        threshold, score = int(pair[0]), int(pair[1])
        if threshold < 0:
            raise fail(f"{path}[{i}][0]", "must be >= 0")
        if not 0 <= score <= 100:
            raise fail(f"{path}[{i}][1]", "must be in 0..100")
        if checked and threshold <= checked[-1][0]:
            raise fail(f"{path}[{i}][0]", "tiers must be sorted ascending by threshold")
        checked.append((threshold, score))
    return tuple(checked)


def str_list(value: object, path: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    if value is None and allow_empty:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise fail(path, "must be a list of strings")
    if not value and not allow_empty:
        raise fail(path, "must not be empty")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise fail(f"{path}[{i}]", "must be a non-empty string")
    return tuple(value)


def mapping(value: object, path: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise fail(path, "must be an object")
    return value
