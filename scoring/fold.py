"""Apply one event to an org's state (spec sections 3, 4, 9): the sans-I/O fold.

``apply_event`` runs the two stateful checks of spec 9 in their order (``too_old``, then
the duplicate rule) and, for an accepted event, updates first-seen, stream time,
ownership and every signal the catalog routes the event type to. It never prunes;
``prune`` drops what no record the worker can still emit reads (retention, spec 3).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from enum import Enum
from fractions import Fraction
from typing import Any

from scoring.accumulators import (
    Accumulator,
    LatestValues,
    MonthDays,
    MonthMax,
    MonthSamples,
    MonthSums,
    WindowEvents,
)
from scoring.catalog import (
    COUNTED_TYPES,
    Catalog,
    ConfigParams,
    DeductionParams,
    ErrorFreeDaysParams,
    GrowthParams,
    IndicatorParams,
    RatioOperand,
    RatioParams,
    RecencyParams,
    Signal,
    ThresholdAverageParams,
)
from scoring.events import Event
from scoring.numbers import Amount, add_amount, fold_amount, negate_amount
from scoring.state import OrgState
from scoring.timeutil import DAY_MS, month_of, month_start_ms

_blake2b = hashlib.blake2b
_from_bytes = int.from_bytes

# too_old: an event more than this many months before the org's latest month (spec 9).
TOO_OLD_MONTHS = 13
# Retention (spec 3): a re-emitted month (>= latest - 13) compares with its previous month,
# whose year and growth baseline read 13 more months: keep months >= latest - 26.
RETENTION_MONTHS = 26
MAX_DEDUP_IDS = 20_000
DEFAULT_DEDUP_HORIZON_MS = 24 * 3_600_000

PRODUCT_OWNING_EVENTS = {"license.purchased": "quantity", "credits.provisioned": "credits"}


class Outcome(Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    TOO_OLD = "too_old"


_ACCEPTED, _DUPLICATE, _TOO_OLD = Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.TOO_OLD

# An updater folds one matching event into a signal's accumulators:
# (accumulators, event, event month, arrival seq) -> None. Updaters are built per
# (signal, event type) so that per-type facts (does the type define ``count``?) are
# decided once, and they update bucket dicts inline: this is the hot path of the worker.
Updater = Callable[[list[Any], Event, int, int], None]
Factory = Callable[[], list[Accumulator]]
UpdaterMaker = Callable[[str, int, int], Updater]  # (event type, slot, sign) -> Updater


def _amount_reader(field_name: str, event_type: str) -> Callable[[Event], Amount | None]:
    """Reads a numeric field exactly; ``count`` is 1 when absent or when the type does not
    define it (spec 9: count is used only by the types whose data defines it)."""
    if field_name == "count":
        if event_type not in COUNTED_TYPES:
            return lambda event: 1

        def read_count(event: Event) -> Amount | None:
            count = event.data.get("count", 1)
            return count if type(count) is int else 1

        return read_count

    def read_amount(event: Event) -> Amount | None:
        raw = event.data.get(field_name)
        return None if raw is None or isinstance(raw, bool) else fold_amount(raw)

    return read_amount


def _ratio_maker(params: RatioParams) -> UpdaterMaker:
    def make(event_type: str, slot: int, sign: int) -> Updater:
        operand = params.numerator if slot == 0 else params.denominator
        read = _amount_reader(operand.field, event_type)
        if operand.mode == "latest":

            def update_latest(accs: list[Any], event: Event, month: int, seq: int) -> None:
                amount = read(event)
                if amount is not None:
                    accs[slot].add(month, event.time_ms, seq, amount)

            return update_latest

        def update_sum(accs: list[Any], event: Event, month: int, seq: int) -> None:
            amount = read(event)
            if amount is not None:
                buckets = accs[slot].buckets
                buckets[month] = add_amount(
                    buckets.get(month, 0), amount if sign > 0 else negate_amount(amount)
                )

        return update_sum

    return make


def _operand_factory(operand: RatioOperand) -> Accumulator:
    return LatestValues() if operand.mode == "latest" else MonthSums()


def _compile(signal: Signal) -> tuple[Factory, UpdaterMaker]:
    """Accumulator factory and updater maker of ``signal`` (its kind's fold step)."""
    params = signal.params
    if isinstance(params, RatioParams):
        num, den = params.numerator, params.denominator

        def make_ratio() -> list[Accumulator]:
            return [_operand_factory(num), _operand_factory(den)]

        return make_ratio, _ratio_maker(params)
    if isinstance(params, GrowthParams) or (
        isinstance(params, IndicatorParams) and params.mode == "tiers"
    ):

        def make_counter(event_type: str, slot: int, sign: int) -> Updater:
            read = _amount_reader("count", event_type)

            def count_per_month(accs: list[Any], event: Event, month: int, seq: int) -> None:
                buckets = accs[0].buckets
                buckets[month] = buckets.get(month, 0) + read(event)

            return count_per_month

        return (lambda: [MonthSums()]), make_counter
    if isinstance(params, IndicatorParams):
        window_ms = params.window_days * DAY_MS

        def window_event(accs: list[Any], event: Event, month: int, seq: int) -> None:
            accs[0].add(event.time_ms)

        return (lambda: [WindowEvents(window_ms)]), lambda *_: window_event
    if isinstance(params, RecencyParams):

        def latest_time(accs: list[Any], event: Event, month: int, seq: int) -> None:
            accs[0].add(month, event.time_ms)

        return (lambda: [MonthMax()]), lambda *_: latest_time
    if isinstance(params, ErrorFreeDaysParams):

        def error_day(accs: list[Any], event: Event, month: int, seq: int) -> None:
            accs[0].add(month, event.time_ms)

        return (lambda: [MonthDays()]), lambda *_: error_day
    if isinstance(params, ThresholdAverageParams):
        value_field = params.field

        def make_sampler(event_type: str, slot: int, sign: int) -> Updater:
            read_count = _amount_reader("count", event_type)
            read_value = _amount_reader(value_field, event_type)

            def sample(accs: list[Any], event: Event, month: int, seq: int) -> None:
                value = read_value(event)
                if value is not None:
                    accs[0].add(month, value, read_count(event))

            return sample

        return (lambda: [MonthSamples()]), make_sampler
    if isinstance(params, DeductionParams):
        points, key_field = params.points, params.field

        def deduct(accs: list[Any], event: Event, month: int, seq: int) -> None:
            key = event.data.get(key_field)
            amount = points.get(key, 0) if isinstance(key, str) else 0
            if amount:
                buckets = accs[0].buckets
                buckets[month] = add_amount(buckets.get(month, 0), amount)

        return (lambda: [MonthSums()]), lambda *_: deduct
    if isinstance(params, ConfigParams):
        config_field = params.field

        def set_value(accs: list[Any], event: Event, month: int, seq: int) -> None:
            if config_field not in event.data:
                return
            raw = event.data[config_field]
            value = raw if isinstance(raw, bool) else fold_amount(raw)
            accs[0].add(month, event.time_ms, seq, value)

        return (lambda: [LatestValues()]), lambda *_: set_value
    raise AssertionError(f"unhandled params {params!r}")


# A compiled route: (signal id, remaining where filters, updater).
_Route = tuple[str, tuple[tuple[str, object], ...], Updater]


class _TypeRoutes:
    """The routes of one event type. When every route filters on the same data field
    (``product`` for licences, ``setting`` for config), they are indexed by its value so
    an event runs only its own routes instead of testing every filter."""

    __slots__ = ("by_value", "dispatch_field", "routes")

    def __init__(self, routes: list[tuple[str, tuple[tuple[str, object], ...], Updater]]) -> None:
        self.routes = tuple(routes)
        self.dispatch_field: str | None = None
        self.by_value: dict[object, tuple[_Route, ...]] = {}
        shared = set.intersection(*({f for f, _ in where} for _, where, _ in routes))
        if shared and len(routes) > 1:
            field_name = min(shared)
            self.dispatch_field = field_name
            table: dict[object, list[_Route]] = {}
            for signal_id, where, updater in routes:
                value = dict(where)[field_name]
                rest = tuple((f, v) for f, v in where if f != field_name)
                table.setdefault(value, []).append((signal_id, rest, updater))
            self.by_value = {value: tuple(group) for value, group in table.items()}


class _Plan:
    """A catalog compiled for the fold: per event type, the routes to run and the
    accumulator factory of every signal."""

    __slots__ = ("catalog", "factories", "routes")

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.factories: dict[str, Factory] = {}
        compiled = [_compile(signal) for signal in catalog.signals]
        routes: dict[str, list[_Route]] = {}
        for event_type, type_routes in catalog.routes.items():
            for route in type_routes:
                signal = catalog.signals[route.signal_index]
                factory, make_updater = compiled[route.signal_index]
                self.factories[signal.id] = factory
                updater = make_updater(event_type, route.slot, route.sign)
                routes.setdefault(event_type, []).append((signal.id, route.where, updater))
        self.routes = {event_type: _TypeRoutes(r) for event_type, r in routes.items()}


# The plan of the catalog used last (a worker uses one catalog): checked by identity.
_last_plan: _Plan | None = None


def _plan_for(catalog: Catalog) -> _Plan:
    global _last_plan
    plan = _last_plan
    if plan is None or plan.catalog is not catalog:
        plan = _last_plan = _Plan(catalog)
    return plan


# [first ms, end ms, month index] of the month computed last: consecutive events of a
# stream mostly share a month, and month_of is the costliest arithmetic of the fold.
# Rebound as a whole tuple, so a reader in another thread never sees a torn span.
_month_span: tuple[int, int, int] = (0, 0, 0)


def _month_of(time_ms: int) -> int:
    global _month_span
    span = _month_span
    if span[0] <= time_ms < span[1]:
        return span[2]
    month = month_of(time_ms)
    _month_span = (month_start_ms(month), month_start_ms(month + 1), month)
    return month


def dedup_key(source: str, event_id: str) -> int:
    """Signed 64-bit BLAKE2b hash of (source, id): stable across processes, unlike
    ``hash``; a collision among an org's 20,000 remembered ids has odds near 1e-11."""
    # surrogatepass: a lone surrogate in an id must hash, not crash the fold.
    digest = _blake2b(
        f"{source}\x00{event_id}".encode("utf-8", "surrogatepass"), digest_size=8
    ).digest()
    return _from_bytes(digest, "little", signed=True)


def apply_event(
    catalog: Catalog, state: OrgState, event: Event, *, dedup_horizon_ms: int
) -> Outcome:
    """Fold ``event`` (of ``state``'s org, never a ``clock.tick``) into ``state``.

    This is the worker's hot path (>= 200,000 events/s per core is the aim), hence the
    inlined caches; ``benchmarks/bench_fold.py`` measures it.
    """
    time_ms = event.time_ms
    span = _month_span
    month = span[2] if span[0] <= time_ms < span[1] else _month_of(time_ms)
    latest = state.latest_time_ms
    if latest is not None:
        latest_month = state.latest_month
        if latest_month is None:
            latest_month = state.latest_month = month_of(latest)
        # spec 9: too_old before the duplicate rule; the org's first event is never too old.
        if month < latest_month - TOO_OLD_MONTHS:
            return _TOO_OLD
    key = _from_bytes(
        _blake2b(
            f"{event.source}\x00{event.id}".encode("utf-8", "surrogatepass"), digest_size=8
        ).digest(),
        "little",
        signed=True,
    )  # = dedup_key(event.source, event.id), inlined
    dedup = state.dedup
    stored = dedup.get(key)
    if stored is not None and latest is not None and stored >= latest - dedup_horizon_ms:
        return _DUPLICATE

    # Accepted: stream time, first seen, arrival order.
    if latest is None or time_ms > latest:
        latest = state.latest_time_ms = time_ms
        state.latest_month = month
    first = state.first_time_ms
    if first is None or time_ms < first:
        state.first_time_ms = time_ms
    seq = state.seq = state.seq + 1
    if month != state.latest_month:  # before the latest month: see OrgState.backfill_seq
        state.backfill_seq = seq
    dedup[key] = latest
    if stored is not None:
        dedup.move_to_end(key)  # order of latest acceptance
    elif len(dedup) > MAX_DEDUP_IDS:
        dedup.popitem(last=False)

    data = event.data
    event_type = event.type
    owning_field = PRODUCT_OWNING_EVENTS.get(event_type)
    if owning_field is not None:
        product, amount = data.get("product"), data.get(owning_field, 0)
        if (
            isinstance(product, str)
            and isinstance(amount, int | float | Fraction)
            and not isinstance(amount, bool)
            and amount > 0  # a float is > 0 exactly when its decimal value is
        ):
            since = state.owned_since.get(product)
            if since is None or time_ms < since:
                state.owned_since[product] = time_ms
    elif event_type == "org.profile":
        products = data.get("products", ())
        listed = tuple(str(p) for p in products) if isinstance(products, list | tuple) else ()
        state.profiles.add(month, time_ms, seq, listed)

    plan = _last_plan
    if plan is None or plan.catalog is not catalog:
        plan = _plan_for(catalog)
    type_routes = plan.routes.get(event_type)
    if type_routes is None:
        return _ACCEPTED
    dispatch_field = type_routes.dispatch_field
    if dispatch_field is None:
        routes = type_routes.routes
    else:
        try:
            routes = type_routes.by_value.get(data.get(dispatch_field), ())
        except TypeError:  # an unhashable value matches no filter
            return _ACCEPTED
    signals = state.signals
    touched = state.touched
    for signal_id, where, updater in routes:
        if where:
            matches = True
            for field_name, required in where:
                if data.get(field_name) != required:
                    matches = False
                    break
            if not matches:
                continue
        accs = signals.get(signal_id)
        if accs is None:
            accs = signals[signal_id] = plan.factories[signal_id]()
        updater(accs, event, month, seq)
        touched[signal_id] = seq  # lets scoring.record reuse untouched signals' results
    return _ACCEPTED


def prune(state: OrgState, *, dedup_horizon_ms: int | None = None) -> None:
    """Drop month buckets older than the retention (spec 3), keeping their snapshot, and,
    given the horizon, dedup ids that can no longer match (stored < stream time - H)."""
    latest = state.latest_time_ms
    if latest is None:
        return
    cutoff_month = month_of(latest) - RETENTION_MONTHS
    if cutoff_month != state.pruned_month:
        for accs in state.signals.values():
            for acc in accs:
                acc.prune(cutoff_month, latest)
        state.profiles.prune(cutoff_month, latest)
        state.pruned_month = cutoff_month
    else:
        # No accepted event lands before the cutoff (too_old keeps them >= latest - 13
        # months), so month buckets only need pruning when the cutoff moves; the exact
        # times of binary indicators follow the latest time itself.
        for accs in state.signals.values():
            for acc in accs:
                if type(acc) is WindowEvents:
                    acc.prune_recent(latest)
    if dedup_horizon_ms is not None:
        stale_before = latest - dedup_horizon_ms
        dedup = state.dedup
        # Stored values rise in insertion order, so the stale ids are a prefix.
        while dedup:
            _key, stored = next(iter(dedup.items()))
            if stored >= stale_before:
                break
            dedup.popitem(last=False)
