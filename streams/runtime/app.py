"""The Faust application: topics, tables, the scoring agent (issue 5, spec sections 3, 10).

Built by ``ScorerApp(settings, catalog, metrics)``; nothing is created at import time.

Data flow of one input record (``_handle_input``):

1. decode (stateless checks; rejections go to the dead-letter topic);
2. ``clock.tick`` events advance the partition watermark;
3. the org's events are folded into its table value (``OrgSlot``), unless the record's
   offset was already applied (redelivery); a record whose key is not its org id is
   forwarded to the org's partition of the control topic and applied there;
4. late events and newly seen orgs re-emit closed months; a watermark that closes a month
   sweeps every org of the partition;
5. the live record is emitted, at most once per org per ``CSS_LIVE_EMIT_INTERVAL_SECONDS``;
   a deferred one is remembered in the org's value and flushed by a wake-up record;
6. every score and DLQ record is acknowledged by the broker, then the tables are written;
   Faust commits the input offset only after the changelog writes are flushed, so a crash
   anywhere re-reads the record, and the offsets kept per org make that harmless.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import faust
import orjson

from scoring.catalog import Catalog
from scoring.events import Event
from scoring.fold import prune
from scoring.record import live_record, monthly_record
from scoring.timeutil import format_time_ms, month_of, month_start_ms
from streams.codec.decoding import Rejection, decode_record
from streams.config import MAX_REQUEST_BYTES, KafkaSecurity, Settings
from streams.pipeline.org_records import (
    LiveThrottle,
    OrgSlot,
    PartitionClock,
    apply_org_record,
    decode_slot,
    encode_slot,
    monthly_owed_after_apply,
    months_to_close,
    new_slot,
    prune_revisions,
    source_key,
)
from streams.runtime.ingest import Ingestor, event_from_row
from streams.runtime.metrics import Metrics
from streams.runtime.rewind import rewinding_consumer
from streams.runtime.routing import partition_for_key

log = logging.getLogger("csscore.worker")

RETAINED_MONTHS = 26  # spec section 3: months an accepted event can still touch
EXIT_AGENT_FAILURE = 70
WATERMARK_WRITE_STEP_MS = 60_000
RECOVERY_ORGS_PER_PASS = 500
SLOT_CACHE_ORGS = 20_000  # decoded org values kept in memory (bounded: 100k orgs <= 1 GB)


def faust_security(security: KafkaSecurity) -> dict[str, Any]:
    """Settings for ``faust.App``: ``broker_credentials`` when security is on."""
    if security.uses_sasl:
        credentials: Any = faust.SASLCredentials(
            username=security.sasl_username,
            password=security.sasl_password,
            mechanism=security.sasl_mechanism,
            ssl_context=security.ssl_context() if security.uses_ssl else None,
        )
        return {"broker_credentials": credentials}
    if security.uses_ssl:
        # faust.SSLCredentials(cafile=...) passes purpose=None to the ssl module, which
        # rejects it: hand it a ready context instead.
        return {"broker_credentials": faust.SSLCredentials(security.ssl_context())}
    return {}


def event_payload(event: Event) -> dict[str, Any]:
    """An event as a CloudEvents JSON object (for forwarding and the DLQ)."""
    data = {
        key: float(value) if isinstance(value, Fraction) else value
        for key, value in event.data.items()
    }
    return {
        "specversion": "1.0",
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "subject": event.subject,
        "time": format_time_ms(event.time_ms),
        "data": data,
    }


@dataclass(frozen=True, slots=True)
class _Outgoing:
    topic: str
    key: bytes | None
    value: bytes
    partition: int | None = None
    headers: list[tuple[str, bytes]] | None = None
    is_live: bool = False


@dataclass(slots=True)
class _Pass:
    """Everything one handled record produces before it is written."""

    partition: int
    clock: PartitionClock
    roster: dict[str, int]  # org -> first month, of this partition (shared with the app)
    sends: list[_Outgoing] = field(default_factory=list)
    # Acks are awaited before the tables are written only when a write would clear
    # something owed (a month-close sweep, a deferred live record) or when a record was
    # dead-lettered; otherwise Faust's flush before the offset commit covers them, and a
    # redelivered record re-emits what it caused (see _apply_org).
    must_wait: bool = False
    clock_dirty: bool = False
    wake_again: bool = False
    consumed: dict[str, int] = field(default_factory=dict)  # events per type (metrics)
    accepted: dict[str, int] = field(default_factory=dict)
    dirty: dict[str, OrgSlot] = field(default_factory=dict)
    roster_dirty: set[str] = field(default_factory=set)
    record_timestamp: float | None = None


class ScorerApp:
    """One worker's Faust app and the state of its agent."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        metrics: Metrics,
        security: KafkaSecurity,
        *,
        partitions: int,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.metrics = metrics
        self.partitions = partitions
        self.wall_clock = wall_clock
        self.app = faust.App(
            settings.app_id,
            broker=[f"kafka://{server}" for server in settings.bootstrap_servers.split(",")],
            store="rocksdb://" if settings.store == "rocksdb" else "memory://",
            datadir=str(settings.data_dir / settings.app_id),  # one store per app id
            topic_partitions=partitions,
            topic_replication_factor=1,
            table_standby_replicas=settings.standby_replicas,
            producer_max_request_size=MAX_REQUEST_BYTES,
            # Changelog values and score records are small and many: a short linger fills
            # batches, so the broker gets a few large requests instead of one per handful
            # of records (building and sending requests was the largest CPU cost of small
            # passes, and capped a live stream at a few hundred events/s).
            producer_max_batch_size=1024 * 1024,
            producer_linger=0.005,
            producer_acks=-1,
            consumer_auto_offset_reset="earliest",
            # A rebalance or shutdown waits for the record in progress: a pass must never
            # write the tables of a partition that has been revoked from under it.
            stream_wait_empty=True,
            stream_buffer_maxsize=8192,
            broker_max_poll_records=2000,
            # Internal records carry up to 5,000 events (512 KiB): fetch many at once.
            consumer_max_fetch_size=16 * 1024 * 1024,
            web_enabled=settings.web_enabled,
            web_bind=settings.web_bind,
            web_port=settings.web_port,
            **faust_security(security),
        )
        # Before the consumer exists (Faust creates it when the app starts).
        self.app.transport.Consumer = rewinding_consumer(  # type: ignore[misc]
            (settings.events_topic, settings.control_topic)
        )
        raw_schema: faust.Schema[bytes, bytes] = faust.Schema(
            key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        )
        self.org_table = self.app.Table(
            "orgs", key_type=bytes, value_type=bytes, partitions=partitions
        )
        # org id -> [first month, live owed]: small values the worker scans after an
        # assignment to rebuild the roster of each partition (the month-close sweep).
        self.roster_table = self.app.Table(
            "roster", key_type=bytes, value_type=bytes, partitions=partitions
        )
        self.clock_table = self.app.Table(
            "clocks", key_type=bytes, value_type=bytes, partitions=partitions
        )
        self.source = self.app.topic(
            settings.events_topic,
            settings.control_topic,
            schema=raw_schema,
            partitions=partitions,
        )
        self.rosters: dict[int, dict[str, int]] = {}
        self._clocks: dict[int, PartitionClock] = {}
        self._written_watermark: dict[int, int | None] = {}
        self.throttle = LiveThrottle(settings.live_emit_interval_seconds, wall_clock)
        # Orgs to check for a live record still owed after an assignment (drained a few
        # hundred per pass, so a recovered partition does not stall).
        self.recovery_backlog: dict[int, list[str]] = {}
        self.wake_in_flight: set[int] = set()
        self.org_bands: dict[str, tuple[str, ...]] = {}
        self.slot_cache: OrderedDict[str, OrgSlot] = OrderedDict()
        self.home_partitions: dict[str, int] = {}  # murmur2 in Python is slow: memoised
        self.ingestor = Ingestor(
            settings, security, metrics, partitions=partitions, wall_clock=wall_clock
        )
        self.app.agent(self.source, name="scorer", concurrency=1)(self._agent)
        self.app.task(self._run_ingest)
        # Faust's signal typing wants a keyword-only ``signal``; our receivers take **kwargs.
        self.app.on_partitions_assigned.connect(self._on_assigned)  # type: ignore[arg-type]
        self.app.on_partitions_revoked.connect(self._on_revoked)  # type: ignore[arg-type]
        interval = max(0.05, min(1.0, settings.live_emit_interval_seconds / 2 or 0.5))
        self.app.timer(interval)(self._wake_due_partitions)

    # --- agent ----------------------------------------------------------------------------

    async def _agent(self, stream: faust.StreamT[bytes]) -> None:
        where = "before the first record"
        try:
            async for event in stream.events():
                message = event.message
                where = f"{message.topic}[{message.partition}]@{message.offset}"
                await self.handle(message)
        except Exception as exc:  # no silent death: one line, exit, a supervisor restarts
            self._die(exc, where)

    async def _run_ingest(self) -> None:
        try:
            await self.ingestor.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # no silent death of the ingest stage either
            self._die(exc, "the ingest stage")

    def _die(self, exc: BaseException, where: str) -> None:
        self.metrics.agent_errors.inc()
        log.critical(
            "scorer agent failed on %s: %s: %s; exiting (code %d) so the record is re-read "
            "after a restart",
            where,
            type(exc).__name__,
            exc,
            EXIT_AGENT_FAILURE,
        )
        logging.shutdown()
        os._exit(EXIT_AGENT_FAILURE)

    async def handle(self, message: Any) -> None:
        partition: int = message.partition
        state = self._pass_for(partition)
        state.record_timestamp = None  # set from the input timestamps of a batch
        self.metrics.last_event.set(self.wall_clock())
        if message.topic == self.settings.control_topic:
            await self._handle_control(state, message)
        else:
            await self._handle_batch(state, message)
        await self._finish(state)

    async def _handle_batch(self, state: _Pass, message: Any) -> None:
        """An internal record of the ingest stage: input records of one input partition,
        each with its offset, input timestamp and validated events."""
        body = orjson.loads(message.value)
        source = str(body["source"])
        records = body["records"]
        if records:
            state.record_timestamp = min(float(record[1]) for record in records)
        for offset, _timestamp, rows in records:
            await self._apply_events(state, source, int(offset), [event_from_row(r) for r in rows])

    async def _apply_events(
        self, state: _Pass, source: str, offset: int, events: Sequence[Event]
    ) -> None:
        org_events: list[Event] = []
        for event in events:
            state.consumed[event.type] = state.consumed.get(event.type, 0) + 1
            if event.is_tick:
                state.clock.advance(event.time_ms)
                state.clock_dirty = True
                state.accepted[event.type] = state.accepted.get(event.type, 0) + 1
            else:
                org_events.append(event)
        if not org_events:
            return
        org = org_events[0].subject
        home = self._home_partition(org)
        if home != state.partition:
            self._forward(state, org, home, source, offset, org_events)
            return
        self._apply_org(state, org, source, offset, org_events)

    def _apply_org(
        self, state: _Pass, org: str, source: str, offset: int, events: list[Event]
    ) -> None:
        slot = self._load_slot(state, org)
        applied = apply_org_record(
            self.catalog,
            slot,
            source,
            offset,
            events,
            dedup_horizon_ms=self.settings.dedup_horizon_ms,
        )
        state.dirty[org] = slot  # a skipped record rewrites the value: RocksDB may be ahead
        if applied.skipped:
            self._reemit_after_redelivery(state, org, slot, events)
            return
        for event_type in applied.accepted_types:
            state.accepted[event_type] = state.accepted.get(event_type, 0) + 1
        self.metrics.duplicates.inc(applied.duplicates)
        for event in applied.too_old:
            rejection = Rejection(
                reason="too_old",
                detail="$.time: month is more than 13 months before the org's latest event",
                index=None,
                raw=orjson.dumps(event_payload(event)),
            )
            self._dead_letter_position(state, rejection, source, offset, 0)
        if applied.max_accepted_ms is not None:
            state.clock.advance(applied.max_accepted_ms)
        self._update_roster(state, org, slot)
        closed = state.clock.closed_month
        late_month = applied.min_accepted_month
        if late_month is not None and closed is not None and late_month <= closed:
            self.metrics.late.inc()
        for month, revision in monthly_owed_after_apply(slot, applied, closed):
            self._emit_monthly(state, slot, month, revision)
        if applied.accepted:
            self._emit_or_defer_live(state, org, slot)

    def _reemit_after_redelivery(
        self, state: _Pass, org: str, slot: OrgSlot, events: list[Event]
    ) -> None:
        """A redelivered record was applied before a crash, but what it caused may not have
        reached the output (acks are awaited lazily): emit it again, same revisions."""
        self.metrics.redelivered.inc()
        self._update_roster(state, org, slot)  # the crash may have hit between the writes
        for event in events:
            state.clock.advance(event.time_ms)
        state.clock_dirty = True
        closed = state.clock.closed_month
        first = slot.state.first_month
        latest = slot.state.latest_time_ms
        if closed is not None and first is not None and latest is not None:
            # Months more than 13 before the org's latest cannot have changed (too_old),
            # and their buckets may be pruned already.
            oldest_touchable = month_of(latest) - 13
            start = max(first, oldest_touchable, min(month_of(e.time_ms) for e in events))
            for month in range(start, closed + 1):
                self._emit_monthly(state, slot, month, slot.revisions.get(month, 0))
        self._emit_live(state, org, slot)

    def _forward(
        self,
        state: _Pass,
        org: str,
        home: int,
        source: str,
        offset: int,
        events: list[Event],
    ) -> None:
        """Re-key: send the org's events to its partition of the control topic."""
        payload = orjson.dumps(
            {
                "kind": "events",
                "source": source,
                "offset": offset,
                "events": [event_payload(event) for event in events],
            }
        )
        state.sends.append(_Outgoing(self.settings.control_topic, org.encode(), payload, home))
        state.must_wait = True  # the forwarded copy must exist before the offset commits

    async def _handle_control(self, state: _Pass, message: Any) -> None:
        body = orjson.loads(message.value)
        kind = body.get("kind")
        if kind == "events":
            decoded = decode_record(orjson.dumps(body["events"]), int(self.wall_clock() * 1000))
            events = [event for _, event in decoded.events]
            await self._apply_events(state, str(body["source"]), int(body["offset"]), events)
        elif kind == "advance":
            state.clock.advance(int(body["time_ms"]))
            state.clock_dirty = True
        # "wake" needs nothing more: _finish flushes what is owed.

    # --- month close, live records, output -------------------------------------------------

    async def _finish(self, state: _Pass) -> None:
        self._sweep_closed_months(state)
        self._flush_due_live(state)
        self._drain_recovery_backlog(state)
        await self._produce(state)
        for org, slot in state.dirty.items():
            latest = slot.state.latest_time_ms
            if latest is not None:
                prune(slot.state, dedup_horizon_ms=self.settings.dedup_horizon_ms)
                prune_revisions(slot, month_of(latest) - RETAINED_MONTHS + 1)
            self.org_table[org.encode()] = encode_slot(slot)
            self._cache_slot(org, slot)
        for org in state.roster_dirty:
            first = state.roster.get(org)
            self.roster_table[org.encode()] = orjson.dumps(first)
        if self._clock_needs_write(state):
            self.clock_table[str(state.partition).encode()] = state.clock.to_json()
            self._written_watermark[state.partition] = state.clock.watermark_ms
        self._observe_clock(state)
        for event_type, count in state.consumed.items():
            self.metrics.events.labels(event_type).inc(count)
        for event_type, count in state.accepted.items():
            self.metrics.accepted.labels(event_type).inc(count)
        self._clocks[state.partition] = state.clock
        if state.wake_again:
            await self._send_wake(state.partition)

    def _clock_needs_write(self, state: _Pass) -> bool:
        """Closed months always; the watermark at most once per minute of event time (a
        watermark that regresses a little after a crash only delays the next close)."""
        if state.clock_dirty:
            return True
        written = self._written_watermark.get(state.partition)
        watermark = state.clock.watermark_ms
        if watermark is None:
            return False
        return written is None or watermark - written >= WATERMARK_WRITE_STEP_MS

    def _sweep_closed_months(self, state: _Pass) -> None:
        due = state.clock.due_closed_month(self.settings.grace_ms)
        closed = state.clock.closed_month
        if due is None or (closed is not None and due <= closed):
            return
        for org, first_month in sorted(state.roster.items()):
            if first_month > due:
                continue
            slot = self._load_slot(state, org)
            for month, revision in months_to_close(slot, closed, due):
                self._emit_monthly(state, slot, month, revision)
        state.clock.closed_month = due
        state.clock_dirty = True
        state.must_wait = True  # the clock must not say "closed" before the records exist

    def _emit_monthly(self, state: _Pass, slot: OrgSlot, month: int, revision: int) -> None:
        record = monthly_record(self.catalog, slot.state, month, revision=revision)
        self.metrics.emitted.labels("monthly").inc()
        state.sends.append(
            _Outgoing(self.settings.output_topic, slot.state.org_id.encode(), orjson.dumps(record))
        )

    def _emit_or_defer_live(self, state: _Pass, org: str, slot: OrgSlot) -> None:
        """Called for an org whose value this pass writes: the owed flag rides along."""
        if self.throttle.may_emit_now(org):
            slot.live_owed = False
            self._emit_live(state, org, slot)
        else:
            self.throttle.defer(state.partition, org)
            slot.live_owed = True  # survives a crash: see _drain_recovery_backlog

    def _emit_live(self, state: _Pass, org: str, slot: OrgSlot) -> None:
        if slot.state.latest_time_ms is None:
            return
        record = live_record(self.catalog, slot.state)
        self.throttle.emitted(state.partition, org)
        self.metrics.emitted.labels("live").inc()
        self._observe_bands(org, record)
        state.sends.append(
            _Outgoing(self.settings.output_topic, org.encode(), orjson.dumps(record), is_live=True)
        )

    def _flush_due_live(self, state: _Pass) -> None:
        """Deferred live records whose interval has passed. The org's ``live_owed`` flag
        stays set (clearing it would cost a write per record); it only makes a restart
        re-emit that org's live record once more."""
        for org in self.throttle.due(state.partition):
            self._emit_live(state, org, self._load_slot(state, org))

    def _drain_recovery_backlog(self, state: _Pass) -> None:
        """After an assignment: emit the live records a crashed worker still owed."""
        backlog = self.recovery_backlog.get(state.partition)
        if not backlog:
            return
        for org in backlog[-RECOVERY_ORGS_PER_PASS:]:
            slot = self._load_slot(state, org)
            if slot.live_owed:
                slot.live_owed = False
                state.dirty[org] = slot
                state.must_wait = True  # clears what is owed: only once the record is acked
                self._emit_live(state, org, slot)
        del backlog[-RECOVERY_ORGS_PER_PASS:]
        state.wake_again = bool(backlog)

    async def _produce(self, state: _Pass) -> None:
        """Hand every outgoing record to the producer, in order; await the acks only when
        the pass must (``_Pass.must_wait``). A failed send stops the worker."""
        futures: list[asyncio.Future[Any]] = []
        stamp = state.record_timestamp
        for out in state.sends:
            fut = asyncio.ensure_future(
                await self.app.producer.send(
                    out.topic, out.key, out.value, out.partition, None, out.headers
                )
            )
            fut.add_done_callback(self._on_delivered(out, stamp))
            futures.append(fut)
        if state.must_wait and futures:
            await asyncio.gather(*futures)

    def _on_delivered(self, out: _Outgoing, stamp: float | None) -> Callable[[Any], None]:
        def done(fut: Any) -> None:
            if fut.cancelled():
                return
            exc = fut.exception()
            if exc is not None:
                self._die(exc, f"producing to {out.topic}")
            elif out.is_live and stamp is not None:
                self.metrics.latency.observe(max(0.0, self.wall_clock() - stamp))

        return done

    def _dead_letter(
        self, state: _Pass, rejection: Rejection, message: Any, original_size: int
    ) -> None:
        source = source_key(message.topic, message.partition)
        self._dead_letter_position(state, rejection, source, message.offset, original_size)

    def _dead_letter_position(
        self, state: _Pass, rejection: Rejection, source: str, offset: int, original_size: int
    ) -> None:
        from streams.codec.dlq import dlq_headers

        topic, _, partition = source.rpartition(":")
        headers = dlq_headers(rejection, topic, int(partition), offset, original_size)
        self.metrics.rejected.labels(rejection.reason).inc()
        self.metrics.dlq_writes.inc()

        state.sends.append(_Outgoing(self.settings.dlq_topic, None, rejection.raw, None, headers))
        state.must_wait = True

    # --- state ---------------------------------------------------------------------------

    def _pass_for(self, partition: int) -> _Pass:
        if partition not in self.rosters:
            self._load_partition(partition)
        clock = self._clocks[partition]
        return _Pass(
            partition=partition,
            clock=PartitionClock(clock.watermark_ms, clock.closed_month),
            roster=self.rosters[partition],
        )

    def _load_partition(self, partition: int) -> None:
        """Rebuild a partition's roster and clock from the tables (after an assignment)."""
        roster: dict[str, int] = {}
        for key, value in self.roster_table.items():
            org = key.decode()
            if self._home_partition(org) != partition:
                continue
            first_month = orjson.loads(value)
            if isinstance(first_month, list):  # early format: [first month, live owed]
                first_month = first_month[0]
            if first_month is not None:
                roster[org] = first_month
        self.rosters[partition] = roster
        self.recovery_backlog[partition] = sorted(roster, reverse=True)
        self.metrics.orgs.set(sum(len(r) for r in self.rosters.values()))
        self._clocks[partition] = PartitionClock.from_json(
            self.clock_table.get(str(partition).encode())
        )

    def _load_slot(self, state: _Pass, org: str) -> OrgSlot:
        slot = state.dirty.get(org) or self.slot_cache.get(org)
        if slot is not None:
            return slot
        raw = self.org_table.get(org.encode())
        slot = new_slot(org) if raw is None else decode_slot(raw)
        return slot

    def _home_partition(self, org: str) -> int:
        home = self.home_partitions.get(org)
        if home is None:
            home = self.home_partitions[org] = partition_for_key(org, self.partitions)
        return home

    def _cache_slot(self, org: str, slot: OrgSlot) -> None:
        """Decoded values of recently used orgs (the table holds the durable copy)."""
        cache = self.slot_cache
        cache[org] = slot
        cache.move_to_end(org)
        while len(cache) > SLOT_CACHE_ORGS:
            cache.popitem(last=False)

    def _forget_partitions(self, partitions: set[int]) -> None:
        for org in [o for o in self.slot_cache if self._home_partition(o) in partitions]:
            del self.slot_cache[org]

    def _update_roster(self, state: _Pass, org: str, slot: OrgSlot) -> None:
        first = slot.state.first_month
        roster = state.roster
        if first is not None and roster.get(org) != first:
            if org not in roster:
                self.metrics.orgs.inc()
            roster[org] = first
            state.roster_dirty.add(org)

    # --- rebalancing and timers ------------------------------------------------------------

    async def _on_assigned(self, sender: Any, assigned: Any, **_: Any) -> None:
        """Wake every newly assigned partition so the agent flushes what it owes there
        (tables are not recovered yet in this hook, so the agent does the work)."""
        control = {tp.partition for tp in assigned if tp.topic == self.settings.control_topic}
        self._forget_partitions(control)  # tables are recovered anew: drop cached values
        for partition in sorted(control):
            self.rosters.pop(partition, None)
            await self._send_wake(partition)

    async def _on_revoked(self, sender: Any, revoked: Any, **_: Any) -> None:
        for tp in revoked:
            self.rosters.pop(tp.partition, None)
            self.throttle.forget(tp.partition)
            self.recovery_backlog.pop(tp.partition, None)
        self._forget_partitions({tp.partition for tp in revoked})
        self.metrics.orgs.set(sum(len(r) for r in self.rosters.values()))

    async def _wake_due_partitions(self) -> None:
        for partition in self.throttle.partitions_with_due():
            if partition not in self.wake_in_flight:
                await self._send_wake(partition)

    async def _send_wake(self, partition: int) -> None:
        self.wake_in_flight.add(partition)
        try:
            fut = await self.app.producer.send(
                self.settings.control_topic, None, b'{"kind":"wake"}', partition, None, None
            )
            await fut
        finally:
            self.wake_in_flight.discard(partition)

    # --- metrics -------------------------------------------------------------------------

    def _observe_clock(self, state: _Pass) -> None:
        label = str(state.partition)
        if state.clock.watermark_ms is not None:
            watermark_s = state.clock.watermark_ms / 1000
            self.metrics.watermark.labels(label).set(watermark_s)
            self.metrics.watermark_lag.labels(label).set(self.wall_clock() - watermark_s)
        if state.clock.closed_month is not None:
            start = month_start_ms(state.clock.closed_month) / 1000
            self.metrics.closed_month.labels(label).set(start)

    def _observe_bands(self, org: str, record: dict[str, Any]) -> None:
        categories = record["categories"]
        names = sorted(categories)
        bands = tuple(
            [record["overall"]["band"] or "none"]
            + [categories[name]["band"] or "none" for name in names]
        )
        previous = self.org_bands.get(org)
        if previous == bands:
            return
        labels = ["overall", *names]
        if previous is not None:
            for category, band in zip(labels, previous, strict=True):
                self.metrics.bands.labels(category, band).dec()
        for category, band in zip(labels, bands, strict=True):
            self.metrics.bands.labels(category, band).inc()
        self.org_bands[org] = bands
