"""The catalog: which signals exist, what feeds them, how they are weighted (spec 1, 4, 8).

The shell (``streams.catalog``) reads the file and checks it against
``schemas/catalog.schema.json``; :func:`catalog_from_dict` then does the semantic checks a
JSON Schema cannot express (sorted tiers, ``good < bad``, unique ids, ...) and builds the
frozen objects the fold and the roll-up read. Adding a signal is editing the catalog.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from scoring.numbers import Number, exact

CATEGORIES = ("product_adoption", "customer_expertise", "technical_health")
DEFAULT_CATEGORY_WEIGHTS = {"product_adoption": 5, "customer_expertise": 2, "technical_health": 3}
DEFAULT_CORE_PRODUCTS = ("sales_cloud", "service_cloud", "field_service", "platform")
KINDS = (
    "ratio",
    "growth",
    "indicator",
    "recency",
    "error_free_days",
    "threshold_average",
    "deduction",
    "config",
)
EFFORTS = {"low": 1, "medium": 2, "high": 4}
POLICIES = ("exclude", "zero")
OPERAND_MODES = ("running", "year", "latest")

# Event types whose data defines ``count`` (spec 7); for the others every event counts 1
# (spec 9: "count is used only by the types whose data defines it").
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


class CatalogError(ValueError):
    """A catalog that is well-formed JSON but semantically wrong; the message starts with
    the JSON path of the offending field."""


@dataclass(frozen=True, slots=True)
class RatioOperand:
    """One side of a ratio: a running signed sum (gauge), a sum over the year, or the
    latest value of a field (gauge, latest wins)."""

    mode: str
    add: tuple[str, ...]
    subtract: tuple[str, ...]
    field: str


@dataclass(frozen=True, slots=True)
class RatioParams:
    numerator: RatioOperand
    denominator: RatioOperand


@dataclass(frozen=True, slots=True)
class GrowthParams:
    variant: str  # "avg12" | "yoy"


@dataclass(frozen=True, slots=True)
class IndicatorParams:
    mode: str  # "binary" | "tiers"
    window_days: int
    tiers: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class RecencyParams:
    tiers: tuple[tuple[int, int], ...]  # (max_days, score), ascending


@dataclass(frozen=True, slots=True)
class ErrorFreeDaysParams:
    pass


@dataclass(frozen=True, slots=True)
class ThresholdAverageParams:
    good: Number
    bad: Number
    field: str


@dataclass(frozen=True, slots=True)
class DeductionParams:
    field: str
    points: Mapping[str, Number]


@dataclass(frozen=True, slots=True)
class ConfigParams:
    field: str


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


@dataclass(frozen=True, slots=True)
class Signal:
    """One catalog entry. ``where`` holds (data field, required value) filters; a
    product-adoption signal always filters on ``product == group`` (spec 9)."""

    id: str
    kind: str
    category: str
    group: str
    weight: Fraction
    policy: str
    effort: str
    action: str
    event_types: tuple[str, ...]
    where: tuple[tuple[str, object], ...]
    params: KindParams

    @property
    def effort_points(self) -> int:
        return EFFORTS[self.effort]


@dataclass(frozen=True, slots=True)
class Route:
    """Compiled: an event of some type feeds accumulator ``slot`` of signal ``signal_id``
    with ``sign`` (+1 / -1, for running sums) when every ``where`` filter matches."""

    signal_index: int
    signal_id: str
    slot: int
    where: tuple[tuple[str, object], ...]
    sign: int


@dataclass(frozen=True, slots=True)
class Catalog:
    name: str
    version: str
    signals: tuple[Signal, ...]
    category_weights: Mapping[str, Fraction]
    core_products: tuple[str, ...] = DEFAULT_CORE_PRODUCTS
    routes: Mapping[str, tuple[Route, ...]] = field(default_factory=dict, compare=False)
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict, compare=False)
    # Integer forms of the weights for the roll-up: every weight of one level scaled by the
    # same factor (the lcm of their denominators), which leaves each weighted mean unchanged.
    signal_int_weights: tuple[int, ...] = field(default=(), compare=False)
    category_int_weights: tuple[int, ...] = field(default=(), compare=False)
    # Per signal: index of its (category, group) in ``group_keys`` (roll-up order).
    signal_group_index: tuple[int, ...] = field(default=(), compare=False)
    group_keys: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        routes: dict[str, list[Route]] = {}
        for index, signal in enumerate(self.signals):
            for slot, event_type, sign in _feeds(signal):
                routes.setdefault(event_type, []).append(
                    Route(index, signal.id, slot, signal.where, sign)
                )
        object.__setattr__(self, "routes", {k: tuple(v) for k, v in routes.items()})
        groups: dict[str, list[str]] = {c: [] for c in CATEGORIES}
        for signal in self.signals:
            if signal.group not in groups[signal.category]:
                groups[signal.category].append(signal.group)
        object.__setattr__(self, "groups", {k: tuple(v) for k, v in groups.items()})
        group_keys = tuple((c, g) for c in CATEGORIES for g in groups[c])
        object.__setattr__(self, "group_keys", group_keys)
        object.__setattr__(
            self,
            "signal_group_index",
            tuple(group_keys.index((s.category, s.group)) for s in self.signals),
        )
        object.__setattr__(
            self, "signal_int_weights", _integer_weights([s.weight for s in self.signals])
        )
        object.__setattr__(
            self,
            "category_int_weights",
            _integer_weights([Fraction(self.category_weights[c]) for c in CATEGORIES]),
        )


def _integer_weights(weights: Sequence[Fraction]) -> tuple[int, ...]:
    scale = math.lcm(*(w.denominator for w in weights)) if weights else 1
    return tuple(int(w * scale) for w in weights)


def _feeds(signal: Signal) -> list[tuple[int, str, int]]:
    """(slot, event type, sign) for every event type feeding the signal."""
    params = signal.params
    if isinstance(params, RatioParams):
        feeds: list[tuple[int, str, int]] = []
        for slot, operand in enumerate((params.numerator, params.denominator)):
            feeds.extend((slot, t, 1) for t in operand.add)
            feeds.extend((slot, t, -1) for t in operand.subtract)
        return feeds
    return [(0, t, 1) for t in signal.event_types]


# --------------------------------------------------------------------------- validation


def _fail(path: str, problem: str) -> CatalogError:
    return CatalogError(f"{path}: {problem}")


def _str(obj: Mapping[str, object], key: str, path: str, default: str | None = None) -> str:
    value = obj.get(key, default)
    if not isinstance(value, str) or not value:
        raise _fail(f"{path}.{key}", "must be a non-empty string")
    return value


def _positive(value: object, path: str) -> Fraction:
    try:
        number = exact(value)
    except TypeError:
        raise _fail(path, "must be a number") from None
    if number <= 0:
        raise _fail(path, "must be > 0")
    return Fraction(number)


def _tiers(value: object, path: str) -> tuple[tuple[int, int], ...]:
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        raise _fail(path, "must be a non-empty list of [threshold, score] pairs")
    tiers: list[tuple[int, int]] = []
    for i, pair in enumerate(value):
        if (
            not isinstance(pair, Sequence)
            or isinstance(pair, str)
            or len(pair) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in pair)
        ):
            raise _fail(f"{path}[{i}]", "must be a pair of integers [threshold, score]")
        threshold, score = int(pair[0]), int(pair[1])
        if threshold < 0:
            raise _fail(f"{path}[{i}][0]", "must be >= 0")
        if not 0 <= score <= 100:
            raise _fail(f"{path}[{i}][1]", "must be in 0..100")
        if tiers and threshold <= tiers[-1][0]:
            raise _fail(f"{path}[{i}][0]", "tiers must be sorted ascending by threshold")
        tiers.append((threshold, score))
    return tuple(tiers)


def _str_list(value: object, path: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    if value is None and allow_empty:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise _fail(path, "must be a list of strings")
    if not value and not allow_empty:
        raise _fail(path, "must not be empty")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise _fail(f"{path}[{i}]", "must be a non-empty string")
    return tuple(value)


def _mapping(value: object, path: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise _fail(path, "must be an object")
    return value


def _operand(value: object, path: str) -> RatioOperand:
    obj = _mapping(value, path)
    mode = obj.get("mode")
    if mode not in OPERAND_MODES:
        raise _fail(f"{path}.mode", f"must be one of {', '.join(OPERAND_MODES)}")
    assert isinstance(mode, str)
    add = _str_list(obj.get("add"), f"{path}.add")
    subtract = _str_list(obj.get("subtract"), f"{path}.subtract", allow_empty=True)
    if mode == "latest" and subtract:
        raise _fail(f"{path}.subtract", "a latest-value operand cannot subtract")
    return RatioOperand(mode, add, subtract, _str(obj, "field", path))


def _params(kind: str, raw: Mapping[str, object], path: str) -> KindParams:
    if kind == "ratio":
        return RatioParams(
            _operand(raw.get("numerator"), f"{path}.numerator"),
            _operand(raw.get("denominator"), f"{path}.denominator"),
        )
    if kind == "growth":
        variant = raw.get("variant", "avg12")
        if variant not in ("avg12", "yoy"):
            raise _fail(f"{path}.variant", "must be avg12 or yoy")
        assert isinstance(variant, str)
        return GrowthParams(variant)
    if kind == "indicator":
        mode = raw.get("mode")
        if mode == "binary":
            window = raw.get("window_days", 30)
            if not isinstance(window, int) or isinstance(window, bool) or window < 0:
                raise _fail(f"{path}.window_days", "must be an integer >= 0")
            return IndicatorParams("binary", window, ())
        if mode == "tiers":
            return IndicatorParams("tiers", 0, _tiers(raw.get("tiers"), f"{path}.tiers"))
        raise _fail(f"{path}.mode", "must be binary or tiers")
    if kind == "recency":
        return RecencyParams(_tiers(raw.get("tiers"), f"{path}.tiers"))
    if kind == "error_free_days":
        return ErrorFreeDaysParams()
    if kind == "threshold_average":
        try:
            good, bad = exact(raw.get("good")), exact(raw.get("bad"))
        except TypeError:
            raise _fail(path, "good and bad must be numbers") from None
        if good >= bad:
            raise _fail(f"{path}.good", "must be < bad")
        return ThresholdAverageParams(good, bad, str(raw.get("field", "value")))
    if kind == "deduction":
        points_raw = _mapping(raw.get("points"), f"{path}.points")
        points: dict[str, Number] = {}
        for key, value in points_raw.items():
            try:
                number = exact(value)
            except TypeError:
                raise _fail(f"{path}.points.{key}", "must be a number") from None
            if number < 0:
                raise _fail(f"{path}.points.{key}", "must be >= 0")
            points[key] = number
        return DeductionParams(str(raw.get("field", "severity")), points)
    if kind == "config":
        return ConfigParams(str(raw.get("field", "value")))
    raise _fail(path, f"unknown kind {kind}")


def _signal(raw: object, path: str, seen: set[str]) -> Signal:
    obj = _mapping(raw, path)
    signal_id = _str(obj, "id", path)
    if signal_id in seen:
        raise _fail(f"{path}.id", f"duplicate signal id {signal_id}")
    seen.add(signal_id)
    kind = _str(obj, "kind", path)
    if kind not in KINDS:
        raise _fail(f"{path}.kind", f"unknown kind {kind}; expected one of {', '.join(KINDS)}")
    category = _str(obj, "category", path)
    if category not in CATEGORIES:
        raise _fail(f"{path}.category", f"must be one of {', '.join(CATEGORIES)}")
    group = _str(obj, "group", path)
    weight = _positive(obj.get("weight", 1), f"{path}.weight")
    policy = _str(obj, "policy", path, "exclude")
    if policy not in POLICIES:
        raise _fail(f"{path}.policy", "must be exclude or zero")
    effort = _str(obj, "effort", path, "medium")
    if effort not in EFFORTS:
        raise _fail(f"{path}.effort", "must be low, medium or high")
    action = _str(obj, "action", path)
    params = _params(kind, _mapping(obj.get("params", {}), f"{path}.params"), f"{path}.params")
    events = _mapping(obj.get("events", {}), f"{path}.events")
    if kind == "ratio":
        event_types: tuple[str, ...] = ()
        if "types" in events:
            raise _fail(f"{path}.events.types", "a ratio takes its types from its operands")
    else:
        event_types = _str_list(events.get("types"), f"{path}.events.types")
    where_raw = _mapping(events.get("where", {}), f"{path}.events.where")
    where = dict(where_raw)
    # Spec 9: a product-adoption signal counts only events whose data.product is its group.
    if category == "product_adoption" and where.setdefault("product", group) != group:
        raise _fail(f"{path}.events.where.product", "must equal the signal's group")
    return Signal(
        id=signal_id,
        kind=kind,
        category=category,
        group=group,
        weight=weight,
        policy=policy,
        effort=effort,
        action=action,
        event_types=event_types,
        where=tuple(where.items()),
        params=params,
    )


def catalog_from_dict(data: Mapping[str, object]) -> Catalog:
    """Build a :class:`Catalog` from parsed JSON, raising :class:`CatalogError` with the
    JSON path and the problem on the first semantic mistake."""
    root = _mapping(data, "$")
    name = _str(root, "name", "$")
    version = _str(root, "version", "$")
    raw_signals = root.get("signals")
    if not isinstance(raw_signals, Sequence) or isinstance(raw_signals, str) or not raw_signals:
        raise _fail("signals", "must be a non-empty list")
    seen: set[str] = set()
    signals = tuple(_signal(raw, f"signals[{i}]", seen) for i, raw in enumerate(raw_signals))
    weights_raw = _mapping(
        root.get("category_weights", DEFAULT_CATEGORY_WEIGHTS), "category_weights"
    )
    weights: dict[str, Fraction] = {}
    for category in CATEGORIES:
        if category not in weights_raw:
            raise _fail(f"category_weights.{category}", "is required")
        weights[category] = _positive(weights_raw[category], f"category_weights.{category}")
    for key in weights_raw:
        if key not in CATEGORIES:
            raise _fail(f"category_weights.{key}", "unknown category")
    core = _str_list(root.get("core_products", list(DEFAULT_CORE_PRODUCTS)), "core_products")
    return Catalog(name, version, signals, weights, core)
