"""The event types the decoder knows and the checks of each one's ``data``
(docs/scoring-rules.md section 7), as a table: one row per field with its check.

``tests/contract`` checks that this table agrees with the JSON Schemas in ``schemas/``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

MAX_COUNT = 1_000_000_000  # count and quantity
MAX_AMOUNT = 10**12  # credits, value, numeric config value (by absolute value)

SEVERITIES: Final = frozenset({"warning", "critical"})
LEARNING_KINDS: Final = frozenset({"badge", "trail", "certification"})


class Violation(Exception):
    """The first problem found in one event (reason, detail); the decoder turns it into a
    ``Rejection``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


# --- field checkers ------------------------------------------------------------------------
# Each checker returns the validated value or raises Violation with the field's path.
# ``type(v) is int`` on purpose: bool is a subclass of int and ``true`` is not an integer.

FieldCheck = Callable[[str, object], object]


def schema_violation(path: str, message: str) -> Violation:
    return Violation("schema_violation", f"{path}: {message}")


def _non_empty_string(path: str, value: object) -> object:
    if type(value) is not str or not value:
        raise schema_violation(path, "must be a non-empty string")
    return value


def _count(path: str, value: object) -> object:
    if type(value) is not int or not 1 <= value <= MAX_COUNT:
        raise schema_violation(path, f"must be an integer >= 1 and <= {MAX_COUNT}")
    return value


def _quantity(path: str, value: object) -> object:
    if type(value) is not int or not 0 <= value <= MAX_COUNT:
        raise schema_violation(path, f"must be an integer >= 0 and <= {MAX_COUNT}")
    return value


def _finite(path: str, value: float) -> None:
    # orjson already rejects literals that overflow a double; this guards against a parser
    # that would hand us inf instead (spec 9: such a record is invalid_json).
    if not math.isfinite(value):
        raise Violation("invalid_json", f"{path}: number overflows a 64-bit double")


def _amount(path: str, value: object) -> object:
    kind = type(value)
    if kind is float:
        _finite(path, value)  # type: ignore[arg-type]
    elif kind is not int:
        raise schema_violation(path, f"must be a number >= 0 and <= {MAX_AMOUNT}")
    if not 0 <= value <= MAX_AMOUNT:  # type: ignore[operator]
        raise schema_violation(path, f"must be a number >= 0 and <= {MAX_AMOUNT}")
    return value


def _config_value(path: str, value: object) -> object:
    kind = type(value)
    if kind is bool:
        return value
    if kind is float:
        _finite(path, value)  # type: ignore[arg-type]
    elif kind is not int:
        raise schema_violation(path, f"must be a boolean or a number with |value| <= {MAX_AMOUNT}")
    if not -MAX_AMOUNT <= value <= MAX_AMOUNT:  # type: ignore[operator]
        raise schema_violation(path, f"must be a boolean or a number with |value| <= {MAX_AMOUNT}")
    return value


def _severity(path: str, value: object) -> object:
    if type(value) is not str or value not in SEVERITIES:
        raise schema_violation(path, "must be one of: critical, warning")
    return value


def _learning_kind(path: str, value: object) -> object:
    if type(value) is not str or value not in LEARNING_KINDS:
        raise schema_violation(path, "must be one of: badge, certification, trail")
    return value


def _products(path: str, value: object) -> object:
    if type(value) is not list:
        raise schema_violation(path, "must be an array of non-empty strings")
    for position, product in enumerate(value):
        if type(product) is not str or not product:
            raise schema_violation(f"{path}[{position}]", "must be a non-empty string")
    return value


@dataclass(frozen=True, slots=True)
class DataField:
    """One field of a type's ``data`` (spec 7 table, bounds of spec 9)."""

    name: str
    check: FieldCheck
    required: bool = True
    path: str = ""  # filled in by _fields, e.g. "$.data.count"


def _fields(*specs: tuple[str, FieldCheck, bool]) -> tuple[DataField, ...]:
    return tuple(
        DataField(name, check, required, f"$.data.{name}") for name, check, required in specs
    )


_PRODUCT = ("product", _non_empty_string, True)
_OPTIONAL_COUNT = ("count", _count, False)

# Spec 7: the data of each event type. Unknown fields are ignored (and not kept).
DATA_FIELDS: Final[dict[str, tuple[DataField, ...]]] = {
    "org.profile": _fields(("products", _products, True)),
    "license.purchased": _fields(_PRODUCT, ("quantity", _quantity, True)),
    "license.activated": _fields(_PRODUCT, _OPTIONAL_COUNT),
    "license.deactivated": _fields(_PRODUCT, _OPTIONAL_COUNT),
    "credits.provisioned": _fields(_PRODUCT, ("credits", _amount, True)),
    "credits.consumed": _fields(_PRODUCT, ("credits", _amount, True)),
    "work_order.created": _fields(_PRODUCT, _OPTIONAL_COUNT),
    "case.created": _fields(_PRODUCT, _OPTIONAL_COUNT),
    "order.placed": _fields(_PRODUCT, _OPTIONAL_COUNT),
    "feature.used": _fields(_PRODUCT, ("feature", _non_empty_string, True)),
    "review.completed": _fields(
        ("program", _non_empty_string, True), ("review", _non_empty_string, True)
    ),
    "learning.completed": _fields(("kind", _learning_kind, True)),
    "coaching.attended": _fields(("topic", _non_empty_string, False)),
    "error.occurred": _fields(("source", _non_empty_string, True), _OPTIONAL_COUNT),
    "performance.sampled": _fields(
        ("metric", _non_empty_string, True), ("value", _amount, True), _OPTIONAL_COUNT
    ),
    "alert.triggered": _fields(("severity", _severity, True), ("metric", _non_empty_string, True)),
    "customization.reviewed": _fields(),
    "config.changed": _fields(("setting", _non_empty_string, True), ("value", _config_value, True)),
    "clock.tick": _fields(),
}

# Types whose data has a required field: for them an absent ``data`` is a violation.
NEEDS_DATA: Final = frozenset(t for t, fs in DATA_FIELDS.items() if any(f.required for f in fs))
EMPTY: Final[dict[str, object]] = {}
# The table as plain tuples: unpacking a tuple in the hot loop is cheaper than four
# attribute reads per field.
FIELD_ROWS: Final[dict[str, tuple[tuple[str, FieldCheck, bool, str], ...]]] = {
    event_type: tuple((f.name, f.check, f.required, f.path) for f in fields)
    for event_type, fields in DATA_FIELDS.items()
}
