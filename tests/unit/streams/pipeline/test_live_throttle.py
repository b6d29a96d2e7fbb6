"""The live-record throttle, driven by explicit times (no sleeping)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

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


class _ScanningThrottle:
    """The throttle as a plain scan of every deferred org: the model the heap must match."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.last: dict[str, float] = {}
        self.deferred: dict[int, dict[str, float]] = {}

    def emitted(self, partition: int, org: str, now_s: float) -> None:
        self.last[org] = now_s
        self.deferred.get(partition, {}).pop(org, None)

    def defer(self, partition: int, org: str, now_s: float) -> None:
        due = self.last.get(org, now_s) + self.interval_s
        self.deferred.setdefault(partition, {}).setdefault(org, due)

    def due(self, partition: int, now_s: float) -> list[str]:
        ready = [(d, o) for o, d in self.deferred.get(partition, {}).items() if d <= now_s]
        return [org for _, org in sorted(ready)]

    def partitions_with_due(self, now_s: float) -> list[int]:
        return sorted(
            p for p, d in self.deferred.items() if d and min(d.values()) <= now_s
        )

    def forget(self, partition: int) -> None:
        self.deferred.pop(partition, None)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["emit", "defer", "due", "forget", "wait"]),
            st.integers(0, 2),  # partition
            st.sampled_from("abcde"),  # org
            st.integers(0, 30),  # tenths of a second to wait
        ),
        max_size=120,
    ),
    st.sampled_from([0.5, 1.0, 2.0]),
)
def test_the_heap_gives_what_a_scan_of_every_deferred_org_gives(
    steps: list[tuple[str, int, str, int]], interval: float
) -> None:
    throttle, model = LiveThrottle(interval), _ScanningThrottle(interval)
    now = 1000.0
    for action, partition, org, wait in steps:
        if action == "wait":
            now += wait / 10
        elif action == "emit":
            throttle.emitted(partition, org, now)
            model.emitted(partition, org, now)
        elif action == "defer":
            throttle.defer(partition, org, now)
            model.defer(partition, org, now)
        elif action == "forget":
            throttle.forget(partition)
            model.forget(partition)
        got = throttle.due(partition, now)
        assert got == model.due(partition, now)  # oldest first, ties by org
        assert sorted(throttle.partitions_with_due(now)) == model.partitions_with_due(now)
