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
from scoring.numbers import exact
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


# An updater folds one matching event into a signal's accumulators:
# (accumulators, event, event month, arrival seq) -> None.
Updater = Callable[[list[Accumulator], Event, int, int], None]
Factory = Callable[[], list[Accumulator]]


def _event_count(event: Event) -> int:
    if event.type in COUNTED_TYPES:
        count = event.data.get("count", 1)
        return count if isinstance(count, int) else 1
    return 1


def _operand_amount(operand: RatioOperand, event: Event) -> int | None:
    """The operand's field of the event; ``count`` defaults to 1 (spec 7)."""
    if operand.field in event.data:
        return exact(event.data[operand.field])  # type: ignore[return-value]
    return 1 if operand.field == "count" else None


def _ratio_updater(operand: RatioOperand, slot: int, sign: int) -> Updater:
    if operand.mode == "latest":

        def update_latest(accs: list[Accumulator], event: Event, month: int, seq: int) -> None:
            amount = _operand_amount(operand, event)
            if amount is not None:
                acc = accs[slot]
                assert isinstance(acc, LatestValues)
                acc.add(month, event.time_ms, seq, amount)

        return update_latest

    def update_sum(accs: list[Accumulator], event: Event, month: int, seq: int) -> None:
        amount = _operand_amount(operand, event)
        if amount is not None:
            acc = accs[slot]
            assert isinstance(acc, MonthSums)
            acc.add(month, sign * amount)

    return update_sum


def _operand_factory(operand: RatioOperand) -> Accumulator:
    return LatestValues() if operand.mode == "latest" else MonthSums()


def _compile(signal: Signal) -> tuple[Factory, list[Updater]]:
    """Accumulator factory and one updater per slot/sign route of ``signal``."""
    params = signal.params
    if isinstance(params, RatioParams):
        num, den = params.numerator, params.denominator

        def make_ratio() -> list[Accumulator]:
            return [_operand_factory(num), _operand_factory(den)]

        return make_ratio, []  # ratio updaters are built per route (slot, sign)
    if isinstance(params, GrowthParams) or (
        isinstance(params, IndicatorParams) and params.mode == "tiers"
    ):

        def count_per_month(accs: list[Accumulator], event: Event, month: int, seq: int) -> None:
            acc = accs[0]
            assert isinstance(acc, MonthSums)
            acc.add(month, _event_count(event))

        return (lambda: [MonthSums()]), [count_per_month]
    if isinstance(params, IndicatorParams):
        window_ms = params.window_days * DAY_MS

        def window_event(accs: list[Accumulator], event: Event, month: int, seq: int) -> None:
            acc = accs[0]
            assert isinstance(acc, WindowEvents)
            acc.add(event.time_ms)

        return (lambda: [WindowEvents(window_ms)]), [window_event]
    if isinstance(params, RecencyParams):

        def latest_time(accs: list[Accumulator], event: Event, month: int, seq: int) -> None:
            acc = accs[0]
            assert isinstance(acc, MonthMax)
            acc.add(month, event.time_ms)

        return (lambda: [MonthMax()]), [latest_time]
    if isinstance(params, ErrorFreeDaysParams):

        def error_day(accs: list[Accumulator], event: Event, month: int, seq: int) -> None:
            acc = accs[0]
            assert isinstance(acc, MonthDays)
            acc.add(month, event.time_ms)

        return (lambda: [MonthDays()]), [error_day]
    if isinstance(params, ThresholdAverageParams):
        value_field = params.field

        def sample(accs: list[Accumulator], event: Event, month: int, seq: int) -> None:
            if value_field in event.data:
                acc = accs[0]
                assert isinstance(acc, MonthSamples)
                acc.add(month, exact(event.data[value_field]), _event_count(event))

        return (lambda: [MonthSamples()]), [sample]
    if isinstance(params, DeductionParams):
        points, key_field = params.points, params.field

        def deduct(accs: list[Accumulator], event: Event, month: int, seq: int) -> None:
            key = event.data.get(key_field)
            amount = points.get(key, 0) if isinstance(key, str) else 0
            if amount:
                acc = accs[0]
                assert isinstance(acc, MonthSums)
                acc.add(month, amount)

        return (lambda: [MonthSums()]), [deduct]
    if isinstance(params, ConfigParams):
        config_field = params.field

        def set_value(accs: list[Accumulator], event: Event, month: int, seq: int) -> None:
            if config_field not in event.data:
                return
            raw = event.data[config_field]
            value = raw if isinstance(raw, bool) else exact(raw)
            acc = accs[0]
            assert isinstance(acc, LatestValues)
            acc.add(month, event.time_ms, seq, value)

        return (lambda: [LatestValues()]), [set_value]
    raise AssertionError(f"unhandled params {params!r}")


class _Plan:
    """A catalog compiled for the fold: per event type, the (signal id, filters, factory,
    updater) to run."""

    __slots__ = ("catalog", "factories", "routes")

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.factories: dict[str, Factory] = {}
        self.routes: dict[str, list[tuple[str, tuple[tuple[str, object], ...], Updater]]] = {}
        compiled = [_compile(signal) for signal in catalog.signals]
        for event_type, routes in catalog.routes.items():
            for route in routes:
                signal = catalog.signals[route.signal_index]
                factory, updaters = compiled[route.signal_index]
                self.factories[signal.id] = factory
                params = signal.params
                if isinstance(params, RatioParams):
                    operand = params.numerator if route.slot == 0 else params.denominator
                    updater = _ratio_updater(operand, route.slot, route.sign)
                else:
                    updater = updaters[0]
                self.routes.setdefault(event_type, []).append((signal.id, route.where, updater))


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
_month_span = [0, 0, 0]


def _month_of(time_ms: int) -> int:
    span = _month_span
    if span[0] <= time_ms < span[1]:
        return span[2]
    month = month_of(time_ms)
    span[0], span[1], span[2] = month_start_ms(month), month_start_ms(month + 1), month
    return month


def dedup_key(source: str, event_id: str) -> int:
    """Signed 64-bit BLAKE2b hash of (source, id): stable across processes, unlike
    ``hash``; a collision among an org's 20,000 remembered ids has odds near 1e-11."""
    digest = _blake2b(f"{source}\x00{event_id}".encode(), digest_size=8).digest()
    return _from_bytes(digest, "little", signed=True)


def apply_event(
    catalog: Catalog, state: OrgState, event: Event, *, dedup_horizon_ms: int
) -> Outcome:
    """Fold ``event`` (of ``state``'s org, never a ``clock.tick``) into ``state``."""
    time_ms = event.time_ms
    month = _month_of(time_ms)
    latest = state.latest_time_ms
    if latest is not None:
        latest_month = state.latest_month
        if latest_month is None:
            latest_month = state.latest_month = month_of(latest)
        # spec 9: too_old before the duplicate rule; the org's first event is never too old.
        if month < latest_month - TOO_OLD_MONTHS:
            return Outcome.TOO_OLD
    key = dedup_key(event.source, event.id)
    dedup = state.dedup
    if latest is not None:
        stored = dedup.get(key)
        if stored is not None and stored >= latest - dedup_horizon_ms:
            return Outcome.DUPLICATE

    # Accepted: stream time, first seen, arrival order.
    if latest is None or time_ms > latest:
        latest = state.latest_time_ms = time_ms
        state.latest_month = month
    first = state.first_time_ms
    if first is None or time_ms < first:
        state.first_time_ms = time_ms
    state.seq += 1
    seq = state.seq
    dedup[key] = latest
    dedup.move_to_end(key)  # order of latest acceptance
    if len(dedup) > MAX_DEDUP_IDS:
        dedup.popitem(last=False)

    data = event.data
    event_type = event.type
    owning_field = PRODUCT_OWNING_EVENTS.get(event_type)
    if owning_field is not None:
        product, amount = data.get("product"), data.get(owning_field, 0)
        if isinstance(product, str) and exact(amount) > 0:
            since = state.owned_since.get(product)
            if since is None or time_ms < since:
                state.owned_since[product] = time_ms
    elif event_type == "org.profile":
        products = data.get("products", ())
        listed = tuple(str(p) for p in products) if isinstance(products, list | tuple) else ()
        state.profiles.add(month, time_ms, seq, listed)

    plan = _plan_for(catalog)
    routes = plan.routes.get(event_type)
    if routes:
        signals = state.signals
        factories = plan.factories
        for signal_id, where, updater in routes:
            matches = True
            for field_name, required in where:
                if data.get(field_name) != required:
                    matches = False
                    break
            if not matches:
                continue
            accs = signals.get(signal_id)
            if accs is None:
                accs = signals[signal_id] = factories[signal_id]()
            updater(accs, event, month, seq)
    return Outcome.ACCEPTED


def prune(state: OrgState, *, dedup_horizon_ms: int | None = None) -> None:
    """Drop month buckets older than the retention (spec 3), keeping their snapshot, and,
    given the horizon, dedup ids that can no longer match (stored < stream time - H)."""
    latest = state.latest_time_ms
    if latest is None:
        return
    cutoff_month = month_of(latest) - RETENTION_MONTHS
    for accs in state.signals.values():
        for acc in accs:
            acc.prune(cutoff_month, latest)
    state.profiles.prune(cutoff_month, latest)
    if dedup_horizon_ms is not None:
        stale_before = latest - dedup_horizon_ms
        dedup = state.dedup
        # Stored values rise in insertion order, so the stale ids are a prefix.
        while dedup:
            _key, stored = next(iter(dedup.items()))
            if stored >= stale_before:
                break
            dedup.popitem(last=False)
