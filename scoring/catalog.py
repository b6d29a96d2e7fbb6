"""The catalog: which signals exist, what feeds them, how they are weighted
(docs/scoring-rules.md sections 1, 4, 8).

The shell (``streams.codec.catalog``) reads the file and checks it against
``schemas/catalog.schema.json``; :func:`catalog_from_dict` then does the semantic checks a
JSON Schema cannot express (sorted tiers, ``good < bad``, unique ids, ...) and builds the
frozen objects the fold and the roll-up read. Adding a signal is editing the catalog; each
kind parses its own ``params`` (:mod:`scoring.kinds`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

from scoring.errors import CatalogError
from scoring.kinds import KINDS as KIND_REGISTRY
from scoring.kinds import KindParams
from scoring.kinds.base import Feed
from scoring.validation import fail, mapping, non_empty_str, positive, str_list

__all__ = ["Band", "Catalog", "CatalogError", "Route", "Signal", "catalog_from_dict"]

CATEGORIES = ("product_adoption", "customer_expertise", "technical_health")
DEFAULT_CATEGORY_WEIGHTS = {"product_adoption": 5, "customer_expertise": 2, "technical_health": 3}
DEFAULT_CORE_PRODUCTS = ("sales_cloud", "service_cloud", "field_service", "platform")
KINDS = tuple(KIND_REGISTRY)  # kind names, in documentation order


@dataclass(frozen=True, slots=True)
class Band:
    """A named score range: from ``lower`` up to the next band's lower bound - 1."""

    name: str
    lower: int


# The spec's grading scheme (section 1): fair 0-30, good 31-60, excellent 61-100.
DEFAULT_BANDS = (Band("fair", 0), Band("good", 31), Band("excellent", 61))

Policy = Literal["exclude", "zero"]
Effort = Literal["low", "medium", "high"]
EFFORTS: dict[Effort, int] = {"low": 1, "medium": 2, "high": 4}
POLICIES: tuple[Policy, ...] = ("exclude", "zero")


@dataclass(frozen=True, slots=True)
class Signal:
    """One catalog entry. ``where`` holds (data field, required value) filters; a
    product-adoption signal always filters on ``product == group`` (section 9)."""

    id: str
    kind: str
    category: str
    group: str
    weight: Fraction
    policy: Policy
    effort: Effort
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
    # The grading scheme of the overall score and the signals, and per category where the
    # catalog gives one (else the overall scheme).
    bands: tuple[Band, ...] = DEFAULT_BANDS
    category_bands: Mapping[str, tuple[Band, ...]] = field(default_factory=dict)
    routes: Mapping[str, tuple[Route, ...]] = field(default_factory=dict, compare=False)
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict, compare=False)
    # Integer forms of the weights for the roll-up: every weight of one level scaled by the
    # same factor (the lcm of their denominators), which leaves each weighted mean unchanged.
    signal_int_weights: tuple[int, ...] = field(default=(), compare=False)
    category_int_weights: tuple[int, ...] = field(default=(), compare=False)
    # Per signal: index of its (category, group) in ``group_keys`` (roll-up order).
    signal_group_index: tuple[int, ...] = field(default=(), compare=False)
    group_keys: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def bands_of(self, category: str) -> tuple[Band, ...]:
        return self.category_bands.get(category, self.bands)

    def band_names(self) -> tuple[str, ...]:
        """Every band name the catalog's records can carry, overall scheme first."""
        names = [band.name for band in self.bands]
        for scheme in self.category_bands.values():
            names.extend(band.name for band in scheme if band.name not in names)
        return tuple(names)

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


def _feeds(signal: Signal) -> list[Feed]:
    """(slot, event type, sign) for every event type feeding the signal."""
    return KIND_REGISTRY[signal.kind].feeds(signal.params, signal.event_types)


# --------------------------------------------------------------------------- validation


def _signal(raw: object, path: str, seen: set[str]) -> Signal:
    obj = mapping(raw, path)
    signal_id = non_empty_str(obj, "id", path)
    if signal_id in seen:
        raise fail(f"{path}.id", f"duplicate signal id {signal_id}")
    seen.add(signal_id)
    kind_name = non_empty_str(obj, "kind", path)
    kind = KIND_REGISTRY.get(kind_name)
    if kind is None:
        raise fail(
            f"{path}.kind", f"unknown kind {kind_name}; expected one of {', '.join(KINDS)}"
        )
    category = non_empty_str(obj, "category", path)
    if category not in CATEGORIES:
        raise fail(f"{path}.category", f"must be one of {', '.join(CATEGORIES)}")
    group = non_empty_str(obj, "group", path)
    weight = positive(obj.get("weight", 1), f"{path}.weight")
    raw_policy = non_empty_str(obj, "policy", path, "exclude")
    policy = next((p for p in POLICIES if p == raw_policy), None)
    if policy is None:
        raise fail(f"{path}.policy", "must be exclude or zero")
    raw_effort = non_empty_str(obj, "effort", path, "medium")
    effort = next((e for e in EFFORTS if e == raw_effort), None)
    if effort is None:
        raise fail(f"{path}.effort", "must be low, medium or high")
    action = non_empty_str(obj, "action", path)
    params = kind.parse(mapping(obj.get("params", {}), f"{path}.params"), f"{path}.params")
    events = mapping(obj.get("events", {}), f"{path}.events")
    if kind.feeds_from_params:
        event_types: tuple[str, ...] = ()
        if "types" in events:
            raise fail(
                f"{path}.events.types", f"a {kind_name} takes its types from its operands"
            )
    else:
        event_types = str_list(events.get("types"), f"{path}.events.types")
    where_raw = mapping(events.get("where", {}), f"{path}.events.where")
    where = dict(where_raw)
    # Section 9: a product-adoption signal counts only events whose data.product is its group.
    if category == "product_adoption" and where.setdefault("product", group) != group:
        raise fail(f"{path}.events.where.product", "must equal the signal's group")
    return Signal(
        id=signal_id,
        kind=kind_name,
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
    root = mapping(data, "$")
    name = non_empty_str(root, "name", "$")
    version = non_empty_str(root, "version", "$")
    raw_signals = root.get("signals")
    if not isinstance(raw_signals, Sequence) or isinstance(raw_signals, str) or not raw_signals:
        raise fail("signals", "must be a non-empty list")
    seen: set[str] = set()
    signals = tuple(_signal(raw, f"signals[{i}]", seen) for i, raw in enumerate(raw_signals))
    weights_raw = mapping(
        root.get("category_weights", DEFAULT_CATEGORY_WEIGHTS), "category_weights"
    )
    weights: dict[str, Fraction] = {}
    for category in CATEGORIES:
        if category not in weights_raw:
            raise fail(f"category_weights.{category}", "is required")
        weights[category] = positive(weights_raw[category], f"category_weights.{category}")
    for key in weights_raw:
        if key not in CATEGORIES:
            raise fail(f"category_weights.{key}", "unknown category")
    core = str_list(root.get("core_products", list(DEFAULT_CORE_PRODUCTS)), "core_products")
    bands = DEFAULT_BANDS if "bands" not in root else _bands(root["bands"], "bands")
    per_category = mapping(root.get("category_bands", {}), "category_bands")
    category_bands: dict[str, tuple[Band, ...]] = {}
    for category, raw in per_category.items():
        if category not in CATEGORIES:
            raise fail(f"category_bands.{category}", "unknown category")
        category_bands[category] = _bands(raw, f"category_bands.{category}")
    return Catalog(name, version, signals, weights, core, bands, category_bands)


def _bands(raw: object, path: str) -> tuple[Band, ...]:
    """A grading scheme: bands by ascending lower bound, the first from 0, each name
    unique, every bound an integer in 0..100."""
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise fail(path, "must be a non-empty list of {name, from}")
    bands: list[Band] = []
    for index, item in enumerate(raw):
        where = f"{path}[{index}]"
        entry = mapping(item, where)
        name = non_empty_str(entry, "name", where)
        lower = entry.get("from")
        if not isinstance(lower, int) or isinstance(lower, bool) or not 0 <= lower <= 100:
            raise fail(f"{where}.from", "must be an integer from 0 to 100")
        if any(band.name == name for band in bands):
            raise fail(f"{where}.name", f"repeats band {name!r}")
        if bands and lower <= bands[-1].lower:
            raise fail(f"{where}.from", "bands must be sorted by ascending, distinct bounds")
        if not bands and lower != 0:
            raise fail(f"{where}.from", "the first band must start at 0 (the scheme covers 0-100)")
        bands.append(Band(name, lower))
    return tuple(bands)
