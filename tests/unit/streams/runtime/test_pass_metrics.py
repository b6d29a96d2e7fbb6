"""PassMetrics: the applied-time gauges move only with passes that consumed events (the
bench's throughput span), the first one only once per process."""

from __future__ import annotations

from streams.codec.table_values import PartitionClock
from streams.pipeline.pass_result import PassResult
from streams.runtime.metrics import Metrics
from streams.runtime.pass_metrics import PassMetrics


def _pass(events: int) -> PassResult:
    result = PassResult(0, PartitionClock(), {})
    if events:
        result.counts.consumed["case.created"] += events
    return result


def test_applied_gauges_follow_passes_that_consumed_events() -> None:
    metrics = Metrics()
    reporter = PassMetrics(metrics)
    reporter.report(_pass(0), 100.0)  # a wake-up: nothing applied
    assert metrics.first_applied._value.get() == 0
    reporter.report(_pass(3), 101.0)
    reporter.report(_pass(2), 105.0)
    reporter.report(_pass(0), 110.0)
    assert metrics.first_applied._value.get() == 101.0
    assert metrics.last_applied._value.get() == 105.0
    assert metrics.events.labels("case.created")._value.get() == 5
