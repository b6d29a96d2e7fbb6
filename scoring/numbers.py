"""Exact arithmetic helpers (spec section 2 "golden rule", section 9 "Output").

Scores are floors of exact values; numbers that reach the output are rounded half to even
to 6 decimals from their exact value. Everything here works on ``int`` and ``Fraction``.
"""

from __future__ import annotations

from fractions import Fraction

Number = int | Fraction

_MICRO = 1_000_000


def exact(value: object) -> Number:
    """The exact value of an event number: ``int`` stays, a float is read at its shortest
    round-trip text (spec 9: the value of its decimal literal), a Fraction stays."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number here")
    if isinstance(value, int):
        return value
    if isinstance(value, Fraction):
        return value.numerator if value.denominator == 1 else value
    if isinstance(value, float):
        return normalise(Fraction(repr(value)))
    raise TypeError(f"not a number: {type(value).__name__}")


def normalise(value: Number) -> Number:
    """An integral Fraction becomes an ``int`` so equal values serialise alike."""
    if isinstance(value, Fraction) and value.denominator == 1:
        return value.numerator
    return value


def floor_clamp(value: Number, low: int = 0, high: int = 100) -> int:
    """floor(value) clamped to ``low..high`` (every reported score, spec 2)."""
    floored = value if isinstance(value, int) else value.__floor__()
    return max(low, min(high, floored))


def output_number(value: Number) -> int | float:
    """A number for a JSON record: integral values print as ints, the others rounded to 6
    decimals half to even from the exact value (``round`` on a Fraction is half-even)."""
    if isinstance(value, int):
        return value
    micro = round(value * _MICRO)
    if micro % _MICRO == 0:
        return micro // _MICRO
    # float() of an exact 6-decimal Fraction is the double nearest to it, whose shortest
    # repr is that 6-decimal text, so the JSON shows exactly the rounded value.
    return float(Fraction(micro, _MICRO))


def encode_number(value: Number) -> int | str:
    """State form of a number: ints as ints, Fractions as ``"n/d"`` strings."""
    if isinstance(value, int):
        return value
    if value.denominator == 1:
        return value.numerator
    return f"{value.numerator}/{value.denominator}"


def decode_number(raw: object) -> Number:
    """Inverse of :func:`encode_number`."""
    if isinstance(raw, bool):
        raise TypeError("a boolean is not a stored number")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        return normalise(Fraction(raw))
    raise TypeError(f"not a stored number: {type(raw).__name__}")
