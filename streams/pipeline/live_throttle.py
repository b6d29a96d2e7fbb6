"""The live-record throttle: at most one live record per org per interval
(``CSS_LIVE_EMIT_INTERVAL_SECONDS``), and the latest state always emitted eventually: a
record that comes too soon is deferred until its org's interval has passed. The time
(seconds) is an argument of every call, so tests drive it without sleeping."""

from __future__ import annotations


class LiveThrottle:
    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last_emit: dict[str, float] = {}
        self._deferred: dict[int, dict[str, float]] = {}  # partition -> org -> due time

    def may_emit_now(self, org: str, now_s: float) -> bool:
        last = self._last_emit.get(org)
        return self.interval_s <= 0 or last is None or now_s - last >= self.interval_s

    def emitted(self, partition: int, org: str, now_s: float) -> None:
        self._last_emit[org] = now_s
        deferred = self._deferred.get(partition)
        if deferred is not None:
            deferred.pop(org, None)

    def defer(self, partition: int, org: str, now_s: float) -> None:
        due = self._last_emit.get(org, now_s) + self.interval_s
        self._deferred.setdefault(partition, {}).setdefault(org, due)

    def due(self, partition: int, now_s: float) -> list[str]:
        """Deferred orgs of ``partition`` whose interval has passed (oldest first)."""
        deferred = self._deferred.get(partition)
        if not deferred:
            return []
        ready = [(due, org) for org, due in deferred.items() if due <= now_s]
        return [org for _, org in sorted(ready)]

    def partitions_with_due(self, now_s: float) -> list[int]:
        return [
            partition
            for partition, deferred in self._deferred.items()
            if deferred and min(deferred.values()) <= now_s
        ]

    def forget(self, partition: int) -> None:
        self._deferred.pop(partition, None)
