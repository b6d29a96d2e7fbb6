"""The catch-up log lines from lag samples (an injected clock, no sleeps)."""

from __future__ import annotations

from streams.runtime.progress import CatchUp


def test_a_backlog_reports_progress_every_interval_then_caught_up_once() -> None:
    progress = CatchUp(interval=10.0)
    lines = [
        progress.observe(lag=5000, records_read=0, now=0.0),
        progress.observe(lag=4000, records_read=1000, now=5.0),
        progress.observe(lag=3000, records_read=2000, now=10.0),
        progress.observe(lag=1000, records_read=4000, now=20.0),
        progress.observe(lag=0, records_read=5000, now=25.0),
        progress.observe(lag=0, records_read=5000, now=30.0),
    ]
    assert lines[0] is None and lines[1] is None
    assert lines[2] == "catching up: 3000 records behind, 200 input records/s, ETA about 15 s"
    assert lines[3] == "catching up: 1000 records behind, 200 input records/s, ETA about 5 s"
    assert lines[4] == "caught up: 5000 input records in 25 s"
    assert lines[5] is None


def test_nothing_to_read_at_start_is_said_once_and_momentary_lag_is_quiet() -> None:
    progress = CatchUp(interval=10.0)
    assert progress.observe(0, 0, 0.0) == "caught up: nothing to read"
    assert progress.observe(0, 0, 5.0) is None
    assert progress.observe(3, 10, 6.0) is None  # a live feed's momentary lag
    assert progress.observe(0, 13, 8.0) is None
    assert progress.observe(9, 20, 20.0) is None
    assert progress.observe(9, 20, 31.0) == (
        "catching up: 9 records behind, 0 input records/s, ETA unknown"
    )
    assert progress.observe(0, 40, 32.0) == "caught up: 20 input records in 12 s"
