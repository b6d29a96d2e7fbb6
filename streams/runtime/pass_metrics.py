"""The metrics one scoring pass reports (once per pass, from its counts)."""

from __future__ import annotations

from typing import Any

from scoring.timeutil import month_start_ms
from streams.codec.table_values import PartitionClock
from streams.pipeline.pass_result import PassResult
from streams.runtime.metrics import Metrics


class PassMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.org_bands: dict[str, tuple[str, ...]] = {}
        self.applied_before = False

    def report(self, result: PassResult, now_s: float) -> None:
        metrics, counts = self.metrics, result.counts
        for event_type, count in counts.consumed.items():
            metrics.events.labels(event_type).inc(count)
        for event_type, count in counts.accepted.items():
            metrics.accepted.labels(event_type).inc(count)
        for reason, count in counts.rejected.items():
            metrics.rejected.labels(reason).inc(count)
            metrics.dlq_writes.inc(count)
        for kind, count in counts.emitted.items():
            metrics.emitted.labels(kind).inc(count)
        for kind, count in counts.alerts.items():
            metrics.alerts.labels(kind).inc(count)
        metrics.duplicates.inc(counts.duplicates)
        metrics.late.inc(counts.late)
        metrics.redelivered.inc(counts.redelivered)
        metrics.orgs.inc(counts.new_orgs)
        if counts.consumed:
            if not self.applied_before:
                self.applied_before = True
                metrics.first_applied.set(now_s)
            metrics.last_applied.set(now_s)
        for org, record in result.live_records:
            self._observe_bands(org, record)
        self._observe_clock(result.partition, result.clock_value, now_s)

    def _observe_clock(self, partition: int, clock: PartitionClock, now_s: float) -> None:
        label = str(partition)
        if clock.watermark_ms is not None:
            watermark_s = clock.watermark_ms / 1000
            self.metrics.watermark.labels(label).set(watermark_s)
            self.metrics.watermark_lag.labels(label).set(now_s - watermark_s)
        if clock.closed_month is not None:
            start = month_start_ms(clock.closed_month) / 1000
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
