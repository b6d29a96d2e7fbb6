"""Is the worker done? The scoring lag over the whole path, and a log line about it.

The lag is the input records the ingest stage has not read yet plus the internal records
the scoring agent has not scored yet (each of those carries many input records), summed
over this worker's partitions: 0 means everything the worker has been given is scored.
``CatchUp`` turns periodic samples into one INFO line every ``interval`` seconds while
the lag stays above 0 (records behind, input records/s, a rough ETA) and one ``caught up``
line when it returns to 0 (after the start, and after any backlog that lasted at least
``interval``: a live feed's momentary lag is not news). The clock is passed in: no
sleeping in tests.
"""

from __future__ import annotations

from dataclasses import dataclass

REPORT_INTERVAL_SECONDS = 10.0


@dataclass(slots=True)
class CatchUp:
    interval: float = REPORT_INTERVAL_SECONDS
    behind_since: float | None = None
    last_report: float | None = None
    records_at_start: int = 0
    records_at_report: int = 0
    caught_up_once: bool = False

    def observe(self, lag: int, records_read: int, now: float) -> str | None:
        """The line to log for this sample, if any. ``records_read``: input records the
        ingest stage has read so far (a counter)."""
        if lag > 0:
            if self.behind_since is None:
                self.behind_since = self.last_report = now
                self.records_at_start = self.records_at_report = records_read
                return None
            assert self.last_report is not None
            if now - self.last_report < self.interval:
                return None
            rate = (records_read - self.records_at_report) / max(now - self.last_report, 1e-9)
            self.last_report, self.records_at_report = now, records_read
            eta = f"about {lag / rate:.0f} s" if rate > 0 else "unknown"
            return f"catching up: {lag} records behind, {rate:.0f} input records/s, ETA {eta}"
        if self.behind_since is None:
            if self.caught_up_once:
                return None
            self.caught_up_once = True
            return "caught up: nothing to read"
        took = now - self.behind_since
        read = records_read - self.records_at_start
        self.behind_since = self.last_report = None
        if self.caught_up_once and took < self.interval:
            return None
        self.caught_up_once = True
        return f"caught up: {read} input records in {took:.0f} s"
