"""What a scoring pass reads and returns: its settings, the records it sends, its
counts and its result (``streams.pipeline.scoring_pass``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from scoring.alerts import AlertRules
from streams.codec.table_values import OrgSlot, PartitionClock


class OrgReader(Protocol):
    """Where a pass reads org values it has not touched yet (the runtime's table)."""

    def load(self, org: str) -> OrgSlot: ...


@dataclass(frozen=True, slots=True)
class ScorerConfig:
    """The settings a pass needs (from ``streams.config.Settings``)."""

    output_topic: str
    dlq_topic: str
    control_topic: str
    grace_ms: int
    dedup_horizon_ms: int
    live_emit_interval_seconds: float
    alerts_topic: str = "scores.alerts"
    alert_rules: AlertRules = field(default_factory=AlertRules)
    # The output topic has the input's partition count: a score record goes to the
    # partition of the pass (its org's partition under the default partitioner), so the
    # producer need not hash its key again.
    output_like_input: bool = False
    alerts_like_input: bool = False  # the same for the alerts topic


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record to produce."""

    topic: str
    key: bytes | None
    value: bytes
    partition: int | None = None
    headers: list[tuple[str, bytes]] | None = None
    is_live: bool = False


@dataclass(slots=True)
class PassCounts:
    """What one pass counted, for the metrics (reported once per pass)."""

    consumed: Counter[str] = field(default_factory=Counter)  # events per type
    accepted: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)  # reason -> items
    emitted: Counter[str] = field(default_factory=Counter)  # "live" | "monthly"
    alerts: Counter[str] = field(default_factory=Counter)  # alert kind -> records
    duplicates: int = 0
    late: int = 0
    redelivered: int = 0
    new_orgs: int = 0


@dataclass(slots=True)
class PassResult:
    """Everything one pass produces: ``sends`` to hand to the producer, and the
    ``org_values`` and ``clock`` to write once they are acknowledged."""

    partition: int
    clock_value: PartitionClock
    # The partition's roster (org -> first month), updated in place; the first month is
    # written with the org's value, which is where a later assignment reads it.
    roster_view: dict[str, int]
    sends: list[Outgoing] = field(default_factory=list)
    org_values: dict[str, OrgSlot] = field(default_factory=dict)
    clock: PartitionClock | None = None  # to write, when it changed enough
    wake_again: bool = False  # a recovery backlog remains: send another wake-up
    input_timestamp_s: float | None = None  # oldest input timestamp of a batch
    # (org, its live record's "overall" and "categories": what the band metrics read;
    # shared between records, never mutated)
    live_records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    counts: PassCounts = field(default_factory=PassCounts)
    clock_dirty: bool = False
