"""Apply one event to an org's state (docs/scoring-rules.md sections 3, 4, 9): the
sans-I/O fold.

``apply_event`` runs the two stateful checks of section 9 in their order (``too_old``, then
the duplicate rule) and, for an accepted event, updates first-seen, stream time,
ownership and every signal the catalog routes the event type to. It never prunes;
``prune`` drops what no record the worker can still emit reads (retention, section 3).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from enum import Enum
from fractions import Fraction
from typing import TYPE_CHECKING

from scoring.accumulators import Accumulator, WindowEvents
from scoring.catalog import Catalog
from scoring.events import Event
from scoring.kinds import KINDS, Updater
from scoring.state import OrgState
from scoring.timeutil import month_of, month_start_ms

if TYPE_CHECKING:
    from scoring.compiled import CompiledCatalog

_blake2b = hashlib.blake2b
_from_bytes = int.from_bytes

# too_old: an event more than this many months before the org's latest month (section 9).
TOO_OLD_MONTHS = 13
# Retention (section 3): a re-emitted month (>= latest - 13) compares with its previous month,
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

# An updater as the fold stores it: the kinds' accumulator types erased (each signal's
# updaters only ever receive the accumulators its own kind made).
AnyUpdater = Updater[list[Accumulator]]
Factory = Callable[[], list[Accumulator]]


# A compiled route: (signal id, remaining where filters, updater).
_Route = tuple[str, tuple[tuple[str, object], ...], AnyUpdater]


class _TypeRoutes:
    """The routes of one event type. When every route filters on the same data field
    (``product`` for licences, ``setting`` for config), they are indexed by its value so
    an event runs only its own routes instead of testing every filter."""

    __slots__ = ("by_value", "dispatch_field", "routes")

    def __init__(self, routes: list[_Route]) -> None:
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


class FoldPlan:
    """A catalog compiled for the fold (part of :class:`scoring.compiled.CompiledCatalog`):
    per event type, the routes to run, and the accumulator factory of every signal.

    ``month_span`` memoises ``(first ms, end ms, month index)`` of the month computed last:
    consecutive events of a stream mostly share a month, and ``month_of`` is the costliest
    arithmetic of the fold. It is rebound as a whole tuple, so a reader in another thread
    never sees a torn span.
    """

    __slots__ = ("catalog", "factories", "month_span", "routes")

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.month_span: tuple[int, int, int] = (0, 0, 0)
        self.factories: dict[str, Factory] = {}
        routes: dict[str, list[_Route]] = {}
        for event_type, type_routes in catalog.routes.items():
            for route in type_routes:
                signal = catalog.signals[route.signal_index]
                kind = KINDS[signal.kind]
                self.factories[signal.id] = functools.partial(
                    kind.new_accumulators, signal.params
                )
                updater = kind.updater(signal.params, event_type, route.slot, route.sign)
                routes.setdefault(event_type, []).append((signal.id, route.where, updater))
        self.routes = {event_type: _TypeRoutes(r) for event_type, r in routes.items()}

    def month_of(self, time_ms: int) -> int:
        span = self.month_span
        if span[0] <= time_ms < span[1]:
            return span[2]
        month = month_of(time_ms)
        self.month_span = (month_start_ms(month), month_start_ms(month + 1), month)
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
    compiled: CompiledCatalog, state: OrgState, event: Event, *, dedup_horizon_ms: int
) -> Outcome:
    """Fold ``event`` (of ``state``'s org, never a ``clock.tick``) into ``state``.

    This is the worker's hot path (>= 200,000 events/s per core is the aim), hence the
    inlined caches; ``benchmarks/bench_fold.py`` measures it.
    """
    plan = compiled.fold
    time_ms = event.time_ms
    span = plan.month_span
    month = span[2] if span[0] <= time_ms < span[1] else plan.month_of(time_ms)
    latest = state.latest_time_ms
    if latest is not None:
        latest_month = state.latest_month
        if latest_month is None:
            latest_month = state.latest_month = month_of(latest)
        # section 9: too_old before the duplicate rule; the org's first event is never too old.
        if month < latest_month - TOO_OLD_MONTHS:
            return _TOO_OLD
    key = dedup_key(event.source, event.id)
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
                state.ownership_seq = seq  # see OrgState.ownership_seq
    elif event_type == "org.profile":
        products = data.get("products", ())
        listed = tuple(str(p) for p in products) if isinstance(products, list | tuple) else ()
        state.profiles.add(month, time_ms, seq, listed)
        state.ownership_seq = seq

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
    """Drop month buckets older than the retention (section 3), keeping their snapshot, and,
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
