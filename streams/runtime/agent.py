"""The scoring agent: one worker's Faust app, its agent, timers and rebalance hooks.

The agent body reads internal records and, for each, runs a scoring pass
(``streams.pipeline.scoring_pass``), hands the records it owes to the producer and keeps
the values the pass changed in memory; the record is held, not acknowledged. Before each
offset commit a flush (``streams.runtime.state_flush``) awaits those sends, writes the
changed values to the changelogs and the local stores, and only then acknowledges the held
records (``streams.runtime.rewind`` also keeps Faust from committing past an unprocessed
record), so a crash anywhere re-reads the record, and the input offsets kept per org make
that harmless.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import faust

from scoring.catalog import Catalog
from scoring.compiled import compile_catalog
from streams.codec.internal import WAKE
from streams.config import KafkaSecurity, Settings
from streams.pipeline.pass_result import ScorerConfig
from streams.pipeline.scoring_pass import Scorer
from streams.runtime.faust_app import build_faust_app
from streams.runtime.ingest import Ingestor
from streams.runtime.metrics import Metrics
from streams.runtime.org_store import OrgStore
from streams.runtime.outbox import Outbox, kafka_producer
from streams.runtime.pass_metrics import PassMetrics
from streams.runtime.progress import CatchUp
from streams.runtime.routing import partition_for_key
from streams.runtime.state_flush import StateFlusher
from streams.runtime.table_io import TableIO
from streams.runtime.topics import TopicLayout

log = logging.getLogger("csscore.worker")

EXIT_AGENT_FAILURE = 70
PROGRESS_SECONDS = 2.0  # how often the scoring lag is measured
IDLE_CHECK_SECONDS = 5.0  # how often an idle worker looks for records Faust dropped


class ScorerApp:
    """Wires the Faust app, the scorer, the tables, the outbox and the ingest stage."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        metrics: Metrics,
        security: KafkaSecurity,
        *,
        layout: TopicLayout,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.partitions = partitions = layout.partitions
        self.wall_clock = wall_clock
        parts = build_faust_app(
            settings, security, partitions, self._flush_state, layout.replication.factor
        )
        self.app = parts.app
        self.home_partitions: dict[str, int] = {}  # murmur2 in Python is slow: memoised
        self.store = OrgStore(TableIO(parts.orgs), TableIO(parts.clocks), self.home_partition)
        self.scorer = Scorer(
            compile_catalog(catalog),
            scorer_config(
                settings,
                output_like_input=layout.output_partitions == partitions,
                alerts_like_input=layout.alerts_partitions == partitions,
            ),
            self.store,
            self.home_partition,
        )
        self.outbox = Outbox(
            lambda: self.app.producer, self._die, metrics.latency.observe, wall_clock
        )
        self.flusher = StateFlusher(
            self.store,
            self.outbox,
            lambda: kafka_producer(self.app.producer),
            self._die,
            FlushMetrics(metrics),
        )
        self.flush_requests: set[asyncio.Future[Any]] = set()
        self.pass_metrics = PassMetrics(metrics)
        self.ingestor = Ingestor(
            settings, security, metrics, partitions=partitions, wall_clock=wall_clock
        )
        self.wake_in_flight: set[int] = set()
        self.app.agent(parts.source, name="scorer", concurrency=1)(self._agent)
        self.app.task(self._run_ingest)
        # Faust's signal typing wants a keyword-only ``signal``; our receivers take **kwargs.
        self.app.on_partitions_assigned.connect(self._on_assigned)  # type: ignore[arg-type]
        self.app.on_partitions_revoked.connect(self._on_revoked)  # type: ignore[arg-type]
        interval = max(0.05, min(1.0, settings.live_emit_interval_seconds / 2 or 0.5))
        self.app.timer(interval)(self._wake_due_partitions)
        self.last_pass_at = time.monotonic()
        self.app.timer(IDLE_CHECK_SECONDS)(self._check_idle_heads)
        # Next offset to score per internal topic-partition, for the scoring lag.
        self.scored: dict[Any, int] = {}
        self.catch_up = CatchUp()
        self.app.timer(PROGRESS_SECONDS)(self._report_progress)

    # --- the agent -----------------------------------------------------------------------------

    async def _agent(self, stream: faust.StreamT[bytes]) -> None:
        where = "before the first record"
        try:
            manual_acks = stream.noack()  # type: ignore[attr-defined]  # Stream, not StreamT
            consumer: Any = self.app.consumer
            async for event in manual_acks.events():
                message = event.message
                if not consumer.admit(message):
                    continue  # out of offset order: the partition is read again
                where = f"{message.topic}[{message.partition}]@{message.offset}"
                async with self.flusher.pass_lock:
                    await self.handle(message.partition, message.topic, message.value)
                    self.flusher.hold(event)  # acknowledged once its state is durable
                self.scored[message.tp] = message.offset + 1
                self.last_pass_at = time.monotonic()
                if self.flusher.over_cap():
                    self._request_flush()
        except Exception as exc:  # no silent death: one line, exit, a supervisor restarts
            self._die(exc, where)

    async def handle(self, partition: int, topic: str, value: bytes) -> None:
        """One internal record: score it, send what it owes, keep the values it changed
        for the next flush."""
        now_s = self.wall_clock()
        self.last_pass_at = time.monotonic()
        self.metrics.last_event.set(now_s)
        if not self.scorer.has_partition(partition):
            self._load_partition(partition)
        result = self.scorer.run(partition, topic, value, now_s)
        await self.outbox.send(result.sends, input_timestamp_s=result.input_timestamp_s)
        self.store.note(result)
        self.pass_metrics.report(result, self.wall_clock())
        if result.wake_again:
            await self._send_wake(partition)

    async def _flush_state(self) -> None:
        await self.flusher.flush()

    def _request_flush(self) -> None:
        """Too many dirty orgs: commit now (a commit flushes first), outside the agent's
        context (its stream event would narrow the flush's table reads to one partition)."""
        consumer: Any = self.app.consumer
        task = asyncio.get_running_loop().create_task(
            consumer.commit(), context=contextvars.Context()
        )
        self.flush_requests.add(task)
        task.add_done_callback(self.flush_requests.discard)

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

    # --- partitions, rebalancing and timers ----------------------------------------------------

    def home_partition(self, org: str) -> int:
        home = self.home_partitions.get(org)
        if home is None:
            home = self.home_partitions[org] = partition_for_key(org, self.partitions)
        return home

    def _load_partition(self, partition: int) -> None:
        """Rebuild a partition's roster (a scan of the org values) and clock from the tables
        (after an assignment)."""
        roster = self.store.roster_of(partition)
        self.scorer.load_partition(partition, roster, self.store.clock_of(partition))
        self.metrics.orgs.set(self.scorer.org_count())

    async def _on_assigned(self, sender: Any, assigned: Any, **_: Any) -> None:
        """Wake every newly assigned partition so the agent flushes what it owes there
        (tables are not recovered yet in this hook, so the agent does the work)."""
        control = {tp.partition for tp in assigned if tp.topic == self.settings.control_topic}
        self.store.forget(control)  # tables are recovered anew: drop cached values
        for partition in sorted(control):
            self.scorer.reload_partition(partition)
            await self._send_wake(partition)

    async def _on_revoked(self, sender: Any, revoked: Any, **_: Any) -> None:
        for tp in revoked:
            self.scorer.forget_partition(tp.partition)
        self.store.forget({tp.partition for tp in revoked})
        self.metrics.orgs.set(self.scorer.org_count())

    async def _report_progress(self) -> None:
        """css_scoring_lag_records and the catch-up log line (``streams.runtime.progress``)."""
        consumer: Any = self.app.consumer
        agent_lag = 0
        sources = (self.settings.events_topic, self.settings.control_topic)
        for tp in consumer.assignment():
            if tp.topic not in sources:
                continue  # the tables' changelogs
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            done = self.scored.get(tp)
            if done is None:
                try:
                    done = await consumer.position(tp)
                except Exception:  # revoked meanwhile (a rebalance): measured next time
                    continue
            agent_lag += max(0, highwater - (done or 0))
        lag = agent_lag + sum(self.ingestor.lag.values())
        self.metrics.scoring_lag.set(lag)
        line = self.catch_up.observe(lag, self.ingestor.records_read, time.monotonic())
        if line is not None:
            log.info(line)

    async def _check_idle_heads(self) -> None:
        """Idle: no pass running, none ended for a while (so nothing waits in the agent's
        buffer either: an idle agent takes a buffered record at once)."""
        if self.flusher.pass_lock.locked():
            return
        consumer: Any = self.app.consumer
        await consumer.check_idle_heads(time.monotonic() - self.last_pass_at)

    async def _wake_due_partitions(self) -> None:
        for partition in self.scorer.partitions_with_due_live(self.wall_clock()):
            if partition not in self.wake_in_flight:
                await self._send_wake(partition)

    async def _send_wake(self, partition: int) -> None:
        self.wake_in_flight.add(partition)
        try:
            await self.outbox.send_and_wait(self.settings.control_topic, WAKE, partition)
        finally:
            self.wake_in_flight.discard(partition)


class FlushMetrics:
    """The state flush's report, into the worker's metrics."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def flushed(self, seconds: float, orgs: int) -> None:
        self.metrics.flush_seconds.observe(seconds)
        self.metrics.flushed_orgs.inc(orgs)

    def dirty(self, orgs: int) -> None:
        self.metrics.dirty_orgs.set(orgs)


def scorer_config(
    settings: Settings, *, output_like_input: bool, alerts_like_input: bool = False
) -> ScorerConfig:
    return ScorerConfig(
        output_like_input=output_like_input,
        alerts_like_input=alerts_like_input,
        output_topic=settings.output_topic,
        dlq_topic=settings.dlq_topic,
        control_topic=settings.control_topic,
        grace_ms=settings.grace_ms,
        dedup_horizon_ms=settings.dedup_horizon_ms,
        live_emit_interval_seconds=settings.live_emit_interval_seconds,
        alerts_topic=settings.alerts_topic,
        alert_rules=settings.alert_rules,
    )
