"""Exact number helpers: event numbers to exact amounts, exact sums, state encoding."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.numbers import (
    add_amount,
    amount_ratio,
    decode_number,
    encode_number,
    floor_ratio_clamp,
    fold_amount,
    negate_amount,
    rational,
    scale_amount,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, 5),
        (5.0, 5),
        (0.1, Decimal("0.1")),
        (1234.5, Decimal("1234.5")),
        (1e-7, Decimal("1E-7")),
        (Fraction(3, 4), Decimal("0.75")),
        (Fraction(4, 2), 2),
        (Fraction(1, 3), Fraction(1, 3)),
    ],
)
def test_fold_amount_is_the_decimal_literal(value: object, expected: object) -> None:
    result = fold_amount(value)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize("value", [True, "1", None, [1]])
def test_fold_amount_rejects_non_numbers(value: object) -> None:
    with pytest.raises(TypeError):
        fold_amount(value)


def test_point_one_plus_point_two_is_point_three() -> None:
    total = add_amount(fold_amount(0.1), fold_amount(0.2))
    assert rational(total) == Fraction(3, 10)
    numerator, denominator = amount_ratio(total)
    # floor(100 * total / (3/10)), as the kinds compute it: on integer pairs.
    assert floor_ratio_clamp(100 * numerator * 10, denominator * 3) == 100


finite_floats = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


@given(
    st.lists(
        st.one_of(finite_floats, st.integers(-(10**9), 10**9), st.fractions(max_denominator=50)),
        max_size=30,
    )
)
def test_sums_equal_exact_rational_sums(values: list[object]) -> None:
    total: object = 0
    expected = Fraction(0)
    for value in values:
        amount = fold_amount(value)
        total = add_amount(total, amount)  # type: ignore[arg-type]
        exact_value = Fraction(repr(value)) if isinstance(value, float) else Fraction(value)
        expected += exact_value
        assert rational(negate_amount(amount)) == -exact_value
        assert rational(scale_amount(amount, 7)) == 7 * exact_value
    assert rational(total) == expected  # type: ignore[arg-type]
    restored = decode_number(encode_number(total))  # type: ignore[arg-type]
    assert rational(restored) == expected


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (7, 7),
        (Decimal("1234.50"), "1234.5"),
        (Decimal("3.000"), 3),
        (Fraction(1, 3), "1/3"),
        (Decimal("1E-7"), "1E-7"),
    ],
)
def test_encode_number(value: object, encoded: object) -> None:
    assert encode_number(value) == encoded  # type: ignore[arg-type]
    assert decode_number(encoded) == value


@pytest.mark.parametrize(
    ("num", "den", "expected"),
    [
        (6700, 100, 67),
        (-3, 2, 0),
        (700, 2, 100),
        (1, 3, 0),
        (200, -3, 0),
        (-200, -3, 66),
    ],
)
def test_floor_ratio_clamp(num: int, den: int, expected: int) -> None:
    assert floor_ratio_clamp(num, den) == expected
