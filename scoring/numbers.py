"""Exact arithmetic helpers (docs/scoring-rules.md section 2 "golden rule", section 9
"Output").

Scores are floors of exact values; numbers that reach the output are rounded half to even
to 6 decimals from their exact value.

Two exact representations are used. Evaluation works on rationals (``Number``: ``int`` or
``Fraction``), since means and ratios divide. The fold only adds and multiplies by
integers, and event numbers are decimal literals, so its sums (``Amount``) are ``int`` or
``decimal.Decimal`` computed in a context that never rounds (maximal precision, Inexact
trapped): about ten times cheaper than Fractions on the hot path. A Fraction that is not a
finite decimal (only a caller building events by hand can make one) stays a Fraction.
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from fractions import Fraction

Number = int | Fraction
Amount = int | Decimal | Fraction

# Addition and multiplication of finite decimals in this context are exact: it has room for
# every digit, and Inexact is trapped so a rounding could never pass silently.
_EXACT = decimal.Context(
    prec=decimal.MAX_PREC,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    traps=[decimal.Inexact, decimal.Rounded, decimal.InvalidOperation, decimal.Overflow],
)

# The same context for callers that sum many amounts at once (decimal.localcontext).
EXACT_CONTEXT = _EXACT

_MICRO = 1_000_000


def exact(value: object) -> Number:
    """The exact value of an event number: ``int`` stays, a float is read at its shortest
    round-trip text (section 9: the value of its decimal literal), a Fraction stays."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number here")
    if isinstance(value, int):
        return value
    if isinstance(value, Fraction):
        return value.numerator if value.denominator == 1 else value
    if isinstance(value, float):
        return normalise(Fraction(repr(value)))
    raise TypeError(f"not a number: {type(value).__name__}")


def fold_amount(value: object) -> Amount:
    """The exact value of an event number for the fold's sums: an int, else a Decimal
    (a float at its shortest round-trip text, i.e. its decimal literal, section 9)."""
    kind = type(value)
    if kind is int:
        return value  # type: ignore[return-value]
    if kind is float:
        if value.is_integer():  # type: ignore[attr-defined]
            return int(value)  # type: ignore[call-overload, no-any-return]
        return Decimal(repr(value))
    if kind is Decimal:
        return value  # type: ignore[return-value]
    if kind is Fraction and isinstance(value, Fraction):
        if value.denominator == 1:
            return value.numerator
        return _finite_decimal(value)
    raise TypeError(f"not a number: {kind.__name__}")


def _finite_decimal(value: Fraction) -> Amount:
    """A Fraction whose denominator is 2^a 5^b as a Decimal, else the Fraction itself."""
    denominator = value.denominator
    for factor in (2, 5):
        while denominator % factor == 0:
            denominator //= factor
    if denominator != 1:
        return value
    return _EXACT.divide(Decimal(value.numerator), Decimal(value.denominator))


def add_amount(total: Amount, amount: Amount) -> Amount:
    """Exact ``total + amount``."""
    if type(total) is int and type(amount) is int:
        return total + amount
    if isinstance(total, Fraction) or isinstance(amount, Fraction):
        return normalise(Fraction(total) + Fraction(amount))
    return _EXACT.add(total, amount)


def negate_amount(amount: Amount) -> Amount:
    if type(amount) is Decimal:
        return _EXACT.minus(amount)
    return -amount


def scale_amount(amount: Amount, factor: int) -> Amount:
    """Exact ``amount * factor`` for an integer factor."""
    if type(amount) is Decimal:
        return _EXACT.multiply(amount, factor)
    return amount * factor


def rational(amount: Amount) -> Number:
    """An Amount as an int or Fraction for evaluation (Fraction(Decimal) is exact)."""
    if type(amount) is Decimal:
        return normalise(Fraction(amount))
    return amount  # type: ignore[return-value]


def normalise(value: Number) -> Number:
    """An integral Fraction becomes an ``int`` so equal values serialise alike."""
    if isinstance(value, Fraction) and value.denominator == 1:
        return value.numerator
    return value


def output_number(value: Amount) -> int | float:
    """A number for a JSON record: integral values print as ints, the others rounded to 6
    decimals half to even from the exact value (``round`` on a Fraction is half-even)."""
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        value = Fraction(value)
    micro = round(value * _MICRO)
    if micro % _MICRO == 0:
        return micro // _MICRO
    # float() of an exact 6-decimal Fraction is the double nearest to it, whose shortest
    # repr is that 6-decimal text, so the JSON shows exactly the rounded value.
    return float(Fraction(micro, _MICRO))


def encode_number(value: Amount) -> int | str:
    """State form of a number: integral values as ints, Decimals as their shortest decimal
    text (``"1234.5"``), other Fractions as ``"n/d"`` strings."""
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        return str(value.normalize(_EXACT))
    if value.denominator == 1:
        return value.numerator
    return f"{value.numerator}/{value.denominator}"


def decode_number(raw: object) -> Amount:
    """Inverse of :func:`encode_number`."""
    if isinstance(raw, bool):
        raise TypeError("a boolean is not a stored number")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        if "/" in raw:
            return normalise(Fraction(raw))
        return Decimal(raw)
    raise TypeError(f"not a stored number: {type(raw).__name__}")


# ----------------------------------------------------------------- integer-pair evaluation
# Evaluation speed: a rational as a pair of ints (numerator, denominator > 0),
# never reduced. Reduction changes no value, and every use below (floor, comparison,
# half-even rounding) depends only on the value, so results equal the Fraction ones while
# skipping Fraction's gcd on every operation.

Ratio = tuple[int, int]


def amount_ratio(amount: Amount) -> Ratio:
    """The exact value of an Amount as (numerator, denominator > 0)."""
    if isinstance(amount, int):
        return amount, 1
    if isinstance(amount, Decimal):
        return amount.as_integer_ratio()
    return amount.numerator, amount.denominator


def floor_ratio_clamp(numerator: int, denominator: int) -> int:
    """floor(numerator / denominator) clamped to 0..100; ``denominator`` is non-zero."""
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    return max(0, min(100, numerator // denominator))


def output_ratio(numerator: int, denominator: int) -> int | float:
    """:func:`output_number` of numerator / denominator (``denominator`` > 0): integral
    values as ints, the others rounded half to even to 6 decimals."""
    if denominator == 1:
        return numerator
    micro, remainder = divmod(numerator * _MICRO, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and micro & 1):
        micro += 1
    if micro % _MICRO == 0:
        return micro // _MICRO
    # int / int is correctly rounded, like float() of the equal Fraction.
    return micro / _MICRO
