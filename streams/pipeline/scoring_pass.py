"""The scoring pass: what the scorer does with one internal record, without Kafka.

``Scorer.run(partition, topic, value, now_s)`` takes one record of the internal topics
(see ``streams.codec.internal``) and returns a ``PassResult``: the records to send, in
order, the org values and partition clock to write once they are sent, and
the counts the metrics report. It never awaits, logs or reads a clock: org values come
through an ``OrgReader`` (the runtime's tables), the time through ``now_s``.

What one pass does (docs/scoring-rules.md sections 3 and 10):

1. ``clock.tick`` events and ``advance`` records move the partition's watermark;
2. each input record is decoded once (rejected records and batch elements are
   dead-lettered with their input position), and its events are folded into its org's
   value, unless the record's offset was already applied (a redelivery: then what it
   caused is emitted again, with the same revisions); events whose org lives on another
   partition (a record not keyed by its org id) are re-keyed there through the control
   topic;
3. a late event (its month already closed) re-emits every closed month from its month to
   the latest closed one; an org first seen late gets its closed months at revision 0;
   too-old events are dead-lettered with their input position;
4. a watermark that closes a month sweeps every org of the partition's roster;
5. band-change alerts go with the monthly records, live alerts with the events that raise
   them (``scoring.alerts``), to the alerts topic, keyed by org;
6. the live record of an org is emitted at most once per live interval; a deferred one is
   remembered in the org's value (``live_owed``) and flushed when due, or after a restart;
7. the runtime writes the changed values only once every record a pass sent is
   acknowledged (``streams.runtime.state_flush``): a sweep's records exist before the
   clock says the month is closed, a live record owed after a crash before the flag is
   cleared, and the monthly records older than a redelivery re-emits before the value
   that owes them. A crash re-reads the record, and step 2 makes that harmless.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from scoring.alerts import band_changes, monthly_band_alerts
from scoring.compiled import CompiledCatalog
from scoring.events import Event
from scoring.fold import RETENTION_MONTHS, TOO_OLD_MONTHS, prune
from scoring.record import monthly_record
from scoring.timeutil import month_of
from streams.codec.decoding import Rejection
from streams.codec.fast_decode import decode_record
from streams.codec.internal import (
    AdvanceBody,
    BatchBody,
    InvalidInternalRecord,
    RawBatchBody,
    RekeyedBody,
    Source,
    decode_internal,
    encode_rekeyed,
)
from streams.codec.table_values import OrgSlot, PartitionClock
from streams.pipeline.dead_letters import dead_letter, too_old_rejection
from streams.pipeline.live_fragments import LiveRecordEncoder
from streams.pipeline.live_throttle import LiveThrottle
from streams.pipeline.org_records import (
    apply_org_record,
    monthly_owed_after_apply,
    months_to_close,
    prune_revisions,
)
from streams.pipeline.pass_result import (
    OrgReader,
    Outgoing,
    PassResult,
    ScorerConfig,
)

WATERMARK_WRITE_STEP_MS = 60_000
RECOVERY_ORGS_PER_PASS = 500


class Scorer:
    """The scoring state of one worker: per partition its roster, clock and the live
    records it still owes; and the live throttle. One ``run`` per internal record."""

    def __init__(
        self,
        compiled: CompiledCatalog,
        config: ScorerConfig,
        orgs: OrgReader,
        partition_of: Callable[[str], int],
    ) -> None:
        self.compiled = compiled
        self.config = config
        self.orgs = orgs
        self.partition_of = partition_of
        self.throttle = LiveThrottle(config.live_emit_interval_seconds)
        self.live_encoder = LiveRecordEncoder(compiled)
        self.rosters: dict[int, dict[str, int]] = {}
        self.clocks: dict[int, PartitionClock] = {}
        self.written_watermark: dict[int, int | None] = {}
        # Orgs to check for a live record still owed after an assignment (drained a few
        # hundred per pass, so a recovered partition does not stall).
        self.recovery_backlog: dict[int, list[str]] = {}

    # --- partitions --------------------------------------------------------------------------

    def has_partition(self, partition: int) -> bool:
        return partition in self.rosters

    def load_partition(self, partition: int, roster: dict[str, int], clock: PartitionClock) -> None:
        """A partition's roster and clock as the tables hold them (after an assignment)."""
        self.rosters[partition] = roster
        self.clocks[partition] = clock
        self.recovery_backlog[partition] = sorted(roster, reverse=True)

    def reload_partition(self, partition: int) -> None:
        """Forget the roster so the next pass loads it again (the tables are recovered)."""
        self.rosters.pop(partition, None)

    def forget_partition(self, partition: int) -> None:
        """A revoked partition: nothing of it is owed here any more."""
        self.rosters.pop(partition, None)
        self.throttle.forget(partition)
        self.recovery_backlog.pop(partition, None)

    def org_count(self) -> int:
        return sum(len(roster) for roster in self.rosters.values())

    def partitions_with_due_live(self, now_s: float) -> list[int]:
        return self.throttle.partitions_with_due(now_s)

    # --- one pass ----------------------------------------------------------------------------

    def run(self, partition: int, topic: str, value: bytes, now_s: float) -> PassResult:
        clock = self.clocks[partition]
        work = PassResult(
            partition=partition,
            clock_value=PartitionClock(clock.watermark_ms, clock.closed_month),
            roster_view=self.rosters[partition],
        )
        try:
            body = decode_internal(value)
        except InvalidInternalRecord:
            if topic != self.config.control_topic:
                raise
            body = None  # an unknown control record: handled as a wake-up
        if isinstance(body, RawBatchBody):
            self._apply_raw_batch(work, body, now_s)
        elif isinstance(body, BatchBody):
            self._apply_batch(work, body, now_s)
        elif isinstance(body, RekeyedBody):
            events = [event for _, event in decode_record(body.payload, int(now_s * 1000)).events]
            self._apply_events(work, body.source, body.offset, events, now_s)
        elif isinstance(body, AdvanceBody):
            work.clock_value.advance(body.time_ms)
            work.clock_dirty = True
        # A wake-up needs nothing more: _finish flushes what is owed.
        self._finish(work, now_s)
        return work

    def _apply_raw_batch(self, work: PassResult, body: RawBatchBody, now_s: float) -> None:
        """Input records as they came: decode each once, dead-letter what it rejects."""
        if body.records:
            work.input_timestamp_s = min(r.timestamp_ms for r in body.records) / 1000
        now_ms = int(now_s * 1000)
        source = Source.parse(body.source)
        for record in body.records:
            decoded = decode_record(record.value, now_ms)
            for rejection in decoded.rejections:
                self._dead_letter(
                    work, rejection, source, record.offset, len(record.value), record.key
                )
            if decoded.events:
                events = [event for _, event in decoded.events]
                self._apply_events(work, body.source, record.offset, events, now_s, record.key)

    def _apply_batch(self, work: PassResult, body: BatchBody, now_s: float) -> None:
        """Validated events in the JSON format of earlier versions of the ingest stage."""
        if body.records:
            work.input_timestamp_s = min(record.timestamp_s for record in body.records)
        for record in body.records:
            self._apply_events(work, body.source, record.offset, record.events, now_s)

    def _apply_events(
        self,
        work: PassResult,
        source: str,
        offset: int,
        events: list[Event],
        now_s: float,
        key: bytes | None = None,
    ) -> None:
        """The events of one input record (``key``: its Kafka key, for the DLQ; the org
        id when not known)."""
        org_events: list[Event] = []
        for event in events:
            work.counts.consumed[event.type] += 1
            if event.is_tick:
                work.clock_value.advance(event.time_ms)
                work.clock_dirty = True
                work.counts.accepted[event.type] += 1
            else:
                org_events.append(event)
        if not org_events:
            return
        org = org_events[0].subject
        home = self.partition_of(org)
        if home != work.partition:
            self._rekey(work, org, home, source, offset, org_events)
            return
        self._apply_org(work, org, source, offset, org_events, now_s, key or org.encode())

    def _apply_org(
        self,
        work: PassResult,
        org: str,
        source: str,
        offset: int,
        events: list[Event],
        now_s: float,
        key: bytes,
    ) -> None:
        slot = self._load(work, org)
        held_before = self._band_changes_before_late(work, slot, events)
        applied = apply_org_record(
            self.compiled,
            slot,
            source,
            offset,
            events,
            dedup_horizon_ms=self.config.dedup_horizon_ms,
            alert_rules=self.config.alert_rules,
        )
        work.org_values[org] = slot  # a skipped record rewrites the value: RocksDB may be ahead
        if applied.skipped:
            self._reemit_after_redelivery(work, org, slot, events, now_s)
            return
        work.counts.accepted.update(applied.accepted_types)
        work.counts.duplicates += applied.duplicates
        self._send_alerts(work, applied.alerts)
        for event in applied.too_old:
            self._dead_letter_too_old(work, event, source, offset, key)
        if applied.max_accepted_ms is not None:
            work.clock_value.advance(applied.max_accepted_ms)
        self._update_roster(work, org, slot)
        closed = work.clock_value.closed_month
        late_month = applied.min_accepted_month
        if late_month is not None and closed is not None and late_month <= closed:
            work.counts.late += 1
        for month, revision in monthly_owed_after_apply(slot, applied, closed):
            self._emit_monthly(work, slot, month, revision, held_before.get(month, 0))
        if applied.accepted:
            self._emit_or_defer_live(work, org, slot, now_s)

    def _band_changes_before_late(
        self, work: PassResult, slot: OrgSlot, events: list[Event]
    ) -> dict[int, int]:
        """Before a record with late events is applied: per closed month it may re-emit,
        the band changes its last revision's alerts held (the state has not changed those
        months since: any event in a closed month re-emits it)."""
        closed = work.clock_value.closed_month
        first = slot.state.first_month
        if closed is None or first is None:
            return {}
        start = max(first + 1, min(month_of(event.time_ms) for event in events))
        return {
            month: band_changes(self.compiled, slot.state, month)
            for month in range(start, closed + 1)
        }

    def _reemit_after_redelivery(
        self, work: PassResult, org: str, slot: OrgSlot, events: list[Event], now_s: float
    ) -> None:
        """A redelivered record was applied before a crash, but what it caused may not have
        reached the output (acks are awaited lazily): emit it again, same revisions."""
        work.counts.redelivered += 1
        self._update_roster(work, org, slot)
        for event in events:
            work.clock_value.advance(event.time_ms)
        work.clock_dirty = True
        closed = work.clock_value.closed_month
        first = slot.state.first_month
        latest = slot.state.latest_time_ms
        if closed is not None and first is not None and latest is not None:
            # Months more than TOO_OLD_MONTHS before the org's latest: their records read
            # months the retention may have pruned (a record compares with the month
            # before, whose year windows and baselines reach 13 months further back), so
            # they cannot be rebuilt exactly here. An org's first record can owe such
            # months (each event was recent when applied): the value that says the record
            # was applied is written only once they were acknowledged (state flush).
            oldest_rebuildable = month_of(latest) - TOO_OLD_MONTHS
            start = max(first, oldest_rebuildable, min(month_of(e.time_ms) for e in events))
            for month in range(start, closed + 1):
                self._emit_monthly(work, slot, month, slot.revisions.get(month, 0))
        self._emit_live(work, org, slot, now_s)

    def _rekey(
        self,
        work: PassResult,
        org: str,
        home: int,
        source: str,
        offset: int,
        events: list[Event],
    ) -> None:
        """Send the org's events to its partition of the control topic."""
        payload = encode_rekeyed(source, offset, events)
        work.sends.append(Outgoing(self.config.control_topic, org.encode(), payload, home))

    def _dead_letter_too_old(
        self, work: PassResult, event: Event, source: str, offset: int, key: bytes
    ) -> None:
        self._dead_letter(work, too_old_rejection(event), Source.parse(source), offset, 0, key)

    def _dead_letter(
        self,
        work: PassResult,
        rejection: Rejection,
        source: Source,
        offset: int,
        original_size: int,
        key: bytes | None,
    ) -> None:
        """A rejected record or element, with its input position (sent before the offset
        of the record that carried it can be committed)."""
        work.counts.rejected[rejection.reason] += 1
        record = dead_letter(self.config.dlq_topic, rejection, source, offset, original_size, key)
        work.sends.append(record)

    # --- month close, live records -----------------------------------------------------------

    def _finish(self, work: PassResult, now_s: float) -> None:
        self._sweep_closed_months(work)
        self._flush_due_live(work, now_s)
        self._drain_recovery_backlog(work, now_s)
        for slot in work.org_values.values():
            latest = slot.state.latest_time_ms
            if latest is not None:
                prune(slot.state, dedup_horizon_ms=self.config.dedup_horizon_ms)
                prune_revisions(slot, month_of(latest) - RETENTION_MONTHS + 1)
        if self._clock_needs_write(work):
            work.clock = work.clock_value
            self.written_watermark[work.partition] = work.clock_value.watermark_ms
        self.clocks[work.partition] = work.clock_value

    def _clock_needs_write(self, work: PassResult) -> bool:
        """Closed months always; the watermark at most once per minute of event time (a
        watermark that regresses a little after a crash only delays the next close)."""
        if work.clock_dirty:
            return True
        written = self.written_watermark.get(work.partition)
        watermark = work.clock_value.watermark_ms
        if watermark is None:
            return False
        return written is None or watermark - written >= WATERMARK_WRITE_STEP_MS

    def _sweep_closed_months(self, work: PassResult) -> None:
        due = work.clock_value.due_closed_month(self.config.grace_ms)
        closed = work.clock_value.closed_month
        if due is None or (closed is not None and due <= closed):
            return
        for org, first_month in sorted(work.roster_view.items()):
            if first_month > due:
                continue
            slot = self._load(work, org)
            for month, revision in months_to_close(slot, closed, due):
                self._emit_monthly(work, slot, month, revision)
        work.clock_value.closed_month = due
        work.clock_dirty = True

    def _emit_monthly(
        self, work: PassResult, slot: OrgSlot, month: int, revision: int, retract: int = 0
    ) -> None:
        """Month ``month``'s record and its band-change alerts (``retract``: the scopes whose
        band change its previous revision held)."""
        record = monthly_record(self.compiled, slot.state, month, revision=revision)
        work.counts.emitted["monthly"] += 1
        key = slot.state.org_id.encode()
        work.sends.append(
            Outgoing(self.config.output_topic, key, orjson.dumps(record), self._output(work))
        )
        alerts = monthly_band_alerts(
            self.compiled, slot.state, month, revision=revision, retract=retract
        )
        self._send_alerts(work, alerts)

    def _send_alerts(self, work: PassResult, alerts: list[dict[str, Any]]) -> None:
        """Alerts, keyed by org, to the pass's partition when the alerts topic is
        partitioned like the input (else the producer's partitioner places them)."""
        partition = work.partition if self.config.alerts_like_input else None
        topic = self.config.alerts_topic
        for alert in alerts:
            work.counts.alerts[alert["kind"]] += 1
            key = alert["org_id"].encode()
            work.sends.append(Outgoing(topic, key, orjson.dumps(alert), partition))

    def _emit_or_defer_live(self, work: PassResult, org: str, slot: OrgSlot, now_s: float) -> None:
        """Called for an org whose value this pass writes: the owed flag rides along."""
        if self.throttle.may_emit_now(org, now_s):
            slot.live_owed = False
            self._emit_live(work, org, slot, now_s)
        else:
            self.throttle.defer(work.partition, org, now_s)
            slot.live_owed = True  # survives a crash: see _drain_recovery_backlog

    def _emit_live(self, work: PassResult, org: str, slot: OrgSlot, now_s: float) -> None:
        if slot.state.latest_time_ms is None:
            return
        # The bytes of orjson.dumps(live_record(...)), from cached fragments.
        value, standing = self.live_encoder.encode_parts(slot.state)
        self.throttle.emitted(work.partition, org, now_s)
        work.counts.emitted["live"] += 1
        work.live_records.append((org, standing))
        live = Outgoing(
            self.config.output_topic, org.encode(), value, self._output(work), is_live=True
        )
        work.sends.append(live)

    def _flush_due_live(self, work: PassResult, now_s: float) -> None:
        """Deferred live records whose interval has passed. The org's ``live_owed`` flag
        stays set (clearing it would cost a write per record); it only makes a restart
        re-emit that org's live record once more."""
        for org in self.throttle.due(work.partition, now_s):
            self._emit_live(work, org, self._load(work, org), now_s)

    def _drain_recovery_backlog(self, work: PassResult, now_s: float) -> None:
        """After an assignment: emit the live records a crashed worker still owed."""
        backlog = self.recovery_backlog.get(work.partition)
        if not backlog:
            return
        for org in backlog[-RECOVERY_ORGS_PER_PASS:]:
            slot = self._load(work, org)
            if slot.live_owed:
                slot.live_owed = False
                work.org_values[org] = slot  # written once the record is acknowledged
                self._emit_live(work, org, slot, now_s)
        del backlog[-RECOVERY_ORGS_PER_PASS:]
        work.wake_again = bool(backlog)

    def _output(self, work: PassResult) -> int | None:
        """The output partition of a record of this pass's orgs (None: the producer's
        partitioner decides)."""
        return work.partition if self.config.output_like_input else None

    # --- org values --------------------------------------------------------------------------

    def _load(self, work: PassResult, org: str) -> OrgSlot:
        slot = work.org_values.get(org)
        return slot if slot is not None else self.orgs.load(org)

    def _update_roster(self, work: PassResult, org: str, slot: OrgSlot) -> None:
        first = slot.state.first_month
        roster = work.roster_view
        if first is not None and roster.get(org) != first:
            if org not in roster:
                work.counts.new_orgs += 1
            roster[org] = first  # persisted in the org's value
