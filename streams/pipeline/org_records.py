"""One org's side of a scoring pass: fold a record's events, say which monthly records
are owed (docs/scoring-rules.md sections 3 and 10).

- ``apply_org_record`` folds one input record's events into an org, skipping a
  redelivered record (its offset is at or below the one already applied from its input
  partition).
- ``monthly_owed_after_apply`` lists the monthly records a late event or a newly seen org
  requires; ``months_to_close`` lists what the month-close sweep owes an org.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from scoring.alerts import AlertRules, follow_live
from scoring.compiled import CompiledCatalog
from scoring.events import Event
from scoring.fold import Outcome, apply_event
from scoring.timeutil import month_of
from streams.codec.table_values import OrgSlot


@dataclass(slots=True)
class AppliedRecord:
    """What folding one record into an org did."""

    skipped: bool = False  # already applied before (redelivery): nothing changed
    accepted: int = 0
    duplicates: int = 0
    too_old: list[Event] = field(default_factory=list)
    accepted_types: list[str] = field(default_factory=list)
    max_accepted_ms: int | None = None
    min_accepted_month: int | None = None
    first_month_before: int | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)  # live alerts raised


def apply_org_record(
    compiled: CompiledCatalog,
    slot: OrgSlot,
    source: str,
    offset: int,
    events: Sequence[Event],
    *,
    dedup_horizon_ms: int,
    alert_rules: AlertRules = AlertRules(),  # noqa: B008  frozen
) -> AppliedRecord:
    """Fold the events of one input record (all of one org, ticks excluded) into ``slot``.

    A record at or below the offset already applied from ``source`` is a redelivery
    (a crash before the offset commit, a group reset): it is skipped, never applied twice
    (spec section 10). The events of one record are applied together, so one offset per
    input partition is enough. The live alerts follow every accepted event
    (``scoring.alerts``).
    """
    result = AppliedRecord(first_month_before=slot.state.first_month)
    last_applied = slot.offsets.get(source)
    if last_applied is not None and offset <= last_applied:
        result.skipped = True
        return result
    for event in events:
        outcome = apply_event(compiled, slot.state, event, dedup_horizon_ms=dedup_horizon_ms)
        if outcome is Outcome.ACCEPTED:
            result.accepted += 1
            result.accepted_types.append(event.type)
            if result.max_accepted_ms is None or event.time_ms > result.max_accepted_ms:
                result.max_accepted_ms = event.time_ms
            month = month_of(event.time_ms)
            if result.min_accepted_month is None or month < result.min_accepted_month:
                result.min_accepted_month = month
            alert = follow_live(compiled, slot.state, alert_rules)
            if alert is not None:
                result.alerts.append(alert)
        elif outcome is Outcome.DUPLICATE:
            result.duplicates += 1
        else:
            result.too_old.append(event)
    slot.offsets[source] = offset
    return result


def monthly_owed_after_apply(
    slot: OrgSlot, applied: AppliedRecord, closed_month: int | None
) -> list[tuple[int, int]]:
    """(month, revision) pairs a record's accepted events require (spec section 3).

    A late event (its month already closed) re-emits every closed month from its month to
    the latest closed one with revision + 1; months that had no record yet for this org
    (it was first seen late, or the event moved its first month earlier) get revision 0.
    Updates ``slot.revisions``.
    """
    first_month = slot.state.first_month
    if closed_month is None or applied.min_accepted_month is None or first_month is None:
        return []
    start = max(applied.min_accepted_month, first_month)
    if start > closed_month:
        return []
    emitted_from = applied.first_month_before
    owed: list[tuple[int, int]] = []
    for month in range(start, closed_month + 1):
        if emitted_from is not None and month >= emitted_from:
            revision = slot.revisions.get(month, 0) + 1
            slot.revisions[month] = revision
        else:
            revision = 0
        owed.append((month, revision))
    return owed


def months_to_close(
    slot: OrgSlot, closed_before: int | None, closed_now: int
) -> Iterable[tuple[int, int]]:
    """(month, revision) pairs the month-close sweep owes an org: the newly closed months
    from its first month on. A sweep redone after a crash emits the same revisions."""
    first_month = slot.state.first_month
    if first_month is None:
        return []
    start = first_month if closed_before is None else max(first_month, closed_before + 1)
    return [(month, slot.revisions.get(month, 0)) for month in range(start, closed_now + 1)]


def prune_revisions(slot: OrgSlot, oldest_kept_month: int) -> None:
    for month in [m for m in slot.revisions if m < oldest_kept_month]:
        del slot.revisions[month]
