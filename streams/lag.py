"""Consumer lag of the worker's input partitions, for ``css_consumer_lag_records``.

Lag of one partition = its high watermark (the offset the next produced record will get)
minus the offset the group has committed (Faust commits "next offset to read", Kafka's
convention). Before the first commit of an assignment, the fetch position stands in. The
numbers come from Faust's consumer (faust-streaming 0.15.3, aiokafka driver):
``consumer.highwater(tp)`` (None until the partition has been fetched once) and
``consumer._committed_offset`` (a mapping filled on assignment and after each commit; it has
no public accessor). Partitions this worker no longer owns lose their series, so two
workers never both report a partition after a rebalance.

The worker calls ``ConsumerLagUpdater.update()`` periodically (a Faust timer).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.runtime.metrics import Metrics


def partition_lag(highwater: int | None, committed: int | None) -> int | None:
    """Records between ``committed`` (next offset to read) and ``highwater``; None if unknown.

    Never negative: a commit can briefly run ahead of a cached high watermark.
    """
    if highwater is None or committed is None or highwater < 0 or committed < 0:
        return None
    return max(0, highwater - committed)


class ConsumerLagUpdater:
    """Sets ``metrics.consumer_lag`` per assigned partition of ``input_topic``."""

    def __init__(self, app: Any, metrics: Metrics, input_topic: str) -> None:
        # ``app`` is a faust.App; typed Any because only ``app.consumer`` is read, and
        # its private ``_committed_offset`` is not part of Faust's ConsumerT protocol.
        self.app = app
        self.metrics = metrics
        self.input_topic = input_topic
        self._reported: set[int] = set()

    async def update(self) -> dict[int, int]:
        """Refresh the gauge; returns the lag per partition it set (for logs and tests)."""
        consumer = self.app.consumer
        committed_offsets: Mapping[Any, int | None] = getattr(consumer, "_committed_offset", {})
        lags: dict[int, int] = {}
        owned: set[int] = set()
        for tp in sorted(consumer.assignment(), key=lambda tp: tp.partition):
            if tp.topic != self.input_topic:
                continue
            owned.add(tp.partition)
            committed = committed_offsets.get(tp)
            if committed is None:
                committed = await consumer.position(tp)
            lag = partition_lag(consumer.highwater(tp), committed)
            if lag is not None:
                lags[tp.partition] = lag
        for partition, lag in lags.items():
            self.metrics.consumer_lag.labels(str(partition)).set(lag)
        # An owned partition whose lag is momentarily unknown keeps its last value (no
        # flapping series); one that moved to another worker loses its series.
        for partition in self._reported - owned:
            self.metrics.consumer_lag.remove(str(partition))
        self._reported = (self._reported & owned) | lags.keys()
        return lags
