"""Builders shared by the scoring-core tests: events, folding, record lookup."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from scoring.catalog import Catalog
from scoring.compiled import CompiledCatalog, compile_catalog
from scoring.events import Event
from scoring.fold import DEFAULT_DEDUP_HORIZON_MS, Outcome, apply_event
from scoring.state import OrgState
from scoring.timeutil import parse_period, parse_time_ms
from streams.codec.catalog import load_catalog

DEFAULT_CATALOG: Catalog = load_catalog(None)
DEFAULT_COMPILED: CompiledCatalog = compile_catalog(DEFAULT_CATALOG)
_ids = itertools.count(1)


def ev(
    event_type: str,
    time: str,
    *,
    org: str = "org-1",
    ce_source: str = "test",
    event_id: str | None = None,
    **data: Any,
) -> Event:
    """An Event as the decoder would hand it over (time as RFC 3339 text; ``ce_source`` is
    the CloudEvents attribute, ``source=`` goes to data like every other keyword)."""
    return Event(
        type=event_type,
        subject=org,
        source=ce_source,
        id=event_id if event_id is not None else f"e{next(_ids)}",
        time_ms=parse_time_ms(time),
        data=data,
    )


def fold(
    events: Iterable[Event],
    catalog: CompiledCatalog = DEFAULT_COMPILED,
    *,
    org: str = "org-1",
    horizon_ms: int = DEFAULT_DEDUP_HORIZON_MS,
) -> OrgState:
    state = OrgState(org)
    for event in events:
        apply_event(catalog, state, event, dedup_horizon_ms=horizon_ms)
    return state


def fold_outcomes(
    events: Iterable[Event],
    catalog: CompiledCatalog = DEFAULT_COMPILED,
    *,
    horizon_ms: int = DEFAULT_DEDUP_HORIZON_MS,
) -> tuple[OrgState, list[Outcome]]:
    state = OrgState("org-1")
    outcomes = [apply_event(catalog, state, e, dedup_horizon_ms=horizon_ms) for e in events]
    return state, outcomes


def signal(record: dict[str, Any], signal_id: str) -> dict[str, Any]:
    matches = [s for s in record["signals"] if s["id"] == signal_id]
    assert len(matches) == 1, signal_id
    return matches[0]


def month(period: str) -> int:
    return parse_period(period)


def monthly_series(event_type: str, counts: dict[str, int], **data: Any) -> list[Event]:
    """One event per month (mid-month) carrying ``count`` = the month's count."""
    return [
        ev(event_type, f"{period}-15T12:00:00Z", count=n, **data)
        for period, n in counts.items()
        if n > 0
    ]
