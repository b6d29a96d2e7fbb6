"""The live-record throttle, driven by explicit times (no sleeping)."""

from __future__ import annotations

from streams.pipeline.live_throttle import LiveThrottle


def test_live_records_are_throttled_per_org_and_deferred_ones_come_due() -> None:
    now = 1000.0
    throttle = LiveThrottle(1.0)
    assert throttle.may_emit_now("a", now)
    throttle.emitted(0, "a", now)
    now += 0.4
    assert not throttle.may_emit_now("a", now)
    assert throttle.may_emit_now("b", now)  # per org, not global
    throttle.defer(0, "a", now)
    throttle.defer(0, "a", now + 0.1)  # deferring twice keeps the first due time
    assert throttle.due(0, now) == [] and throttle.partitions_with_due(now) == []
    now += 0.6
    assert throttle.due(0, now) == ["a"] and throttle.partitions_with_due(now) == [0]
    throttle.emitted(0, "a", now)
    assert throttle.due(0, now) == [] and not throttle.may_emit_now("a", now)


def test_interval_zero_emits_every_time_and_forget_drops_a_partition() -> None:
    throttle = LiveThrottle(0.0)
    throttle.emitted(1, "a", 1000.0)
    assert throttle.may_emit_now("a", 1000.0)
    slow = LiveThrottle(5.0)
    slow.emitted(1, "a", 1000.0)
    slow.defer(1, "a", 1000.0)
    slow.forget(1)
    assert slow.due(1, 1010.0) == []
