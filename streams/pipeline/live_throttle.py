"""The live-record throttle: at most one live record per org per interval
(``CSS_LIVE_EMIT_INTERVAL_SECONDS``), and the latest state always emitted eventually: a
record that comes too soon is deferred until its org's interval has passed. The time
(seconds) is an argument of every call, so tests drive it without sleeping.

Deferred orgs sit in a heap per partition ordered by due time, so finding the orgs due
costs O(due x log deferred), not a scan of every deferred org. An org emitted before its
due time leaves a stale heap entry behind, skipped (and dropped) when it reaches the top:
the dict of deferred orgs is the truth, the heap only the order.
"""

from __future__ import annotations

import heapq


class LiveThrottle:
    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last_emit: dict[str, float] = {}
        self._deferred: dict[int, dict[str, float]] = {}  # partition -> org -> due time
        self._queues: dict[int, list[tuple[float, str]]] = {}  # partition -> (due, org) heap

    def may_emit_now(self, org: str, now_s: float) -> bool:
        last = self._last_emit.get(org)
        return self.interval_s <= 0 or last is None or now_s - last >= self.interval_s

    def emitted(self, partition: int, org: str, now_s: float) -> None:
        self._last_emit[org] = now_s
        deferred = self._deferred.get(partition)
        if deferred is not None:
            deferred.pop(org, None)

    def defer(self, partition: int, org: str, now_s: float) -> None:
        deferred = self._deferred.setdefault(partition, {})
        if org in deferred:
            return  # already waiting: its due time stays
        due = deferred[org] = self._last_emit.get(org, now_s) + self.interval_s
        heapq.heappush(self._queues.setdefault(partition, []), (due, org))

    def due(self, partition: int, now_s: float) -> list[str]:
        """Deferred orgs of ``partition`` whose interval has passed (oldest first). They
        stay deferred until ``emitted``."""
        deferred = self._deferred.get(partition)
        queue = self._queues.get(partition)
        if not deferred or not queue:
            return []
        ready: list[tuple[float, str]] = []
        seen: set[str] = set()
        while queue and queue[0][0] <= now_s:
            entry = heapq.heappop(queue)
            org = entry[1]
            if deferred.get(org) == entry[0] and org not in seen:
                seen.add(org)
                ready.append(entry)
        for entry in ready:  # still deferred until emitted: back in the queue
            heapq.heappush(queue, entry)
        return [org for _, org in ready]

    def partitions_with_due(self, now_s: float) -> list[int]:
        return [partition for partition in self._queues if self._top_due(partition) <= now_s]

    def _top_due(self, partition: int) -> float:
        """The earliest due time of the partition's deferred orgs (inf: none), dropping
        stale heap entries on the way."""
        queue = self._queues[partition]
        deferred = self._deferred.get(partition, {})
        while queue:
            due, org = queue[0]
            if deferred.get(org) == due:
                return due
            heapq.heappop(queue)
        return float("inf")

    def forget(self, partition: int) -> None:
        self._deferred.pop(partition, None)
        self._queues.pop(partition, None)
