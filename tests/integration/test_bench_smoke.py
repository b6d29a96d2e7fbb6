"""``csscore bench --quick`` runs end to end on the session broker.

The smoke test checks the shape of the results, never a time: every key of the JSON
contract is present and every measured number is positive (the Quix Streams peer may be
null only when it explains why; the broker CPU only when its pid is unknown), and
``--phase`` runs one phase alone. The synthetic events the bench feeds must pass the
decoder, or every scorer figure would measure the dead-letter path instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devtools.bench.events import batched_records, synthetic_events
from devtools.bench.sizes import BenchSizes
from streams.codec.decoding import decode_record

REQUIRED_KEYS = (
    "raw_events_per_s",
    "batched_events_per_s",
    "single_events_per_s",
    "latency_p50_ms",
    "latency_p99_ms",
    "rss_mb_10k_orgs",
    "rss_mb_100k_orgs",
    "two_worker_speedup",
    "quix_events_per_s",
    "faust_naive_events_per_s",
    "worker_cpu_us_per_event",
    "broker_cpu_us_per_event",
    "produced_records_per_event",
    "changelog_bytes_per_event",
    "heavy_org_flush_bytes",
    "heavy_org_flush_bytes_100_ids",
    "heavy_org_flush_us",
    "two_worker_cpu_efficiency",
    "month_close_records_per_s",
    "single_tail_seconds",
)
# Differences of two times: any sign (a negative tail: changelog writes trailed the output).
SIGNED = {"single_tail_seconds"}
REPO_ROOT = Path(__file__).resolve().parents[2]


@settings(max_examples=30, deadline=None)
@given(orgs=st.integers(1, 40), count=st.integers(1, 300))
def test_synthetic_events_are_valid_and_spread_evenly(orgs: int, count: int) -> None:
    now_ms = int(time.time() * 1000)
    per_org: Counter[str] = Counter()
    for key, line in synthetic_events(orgs, count):
        decoded = decode_record(line, now_ms)
        assert decoded.rejections == []
        assert [event.subject for _, event in decoded.events] == [key.decode()]
        per_org[key.decode()] += 1
    assert sum(per_org.values()) == count
    assert len(per_org) == min(orgs, count)
    assert max(per_org.values()) - min(per_org.values()) <= 1


@settings(max_examples=30, deadline=None)
@given(orgs=st.integers(1, 20), count=st.integers(1, 400), per_record=st.integers(1, 100))
def test_batched_records_hold_valid_events_of_one_org(
    orgs: int, count: int, per_record: int
) -> None:
    now_ms = int(time.time() * 1000)
    for key, value, carried in batched_records(orgs, count, per_record):
        decoded = decode_record(value, now_ms)
        assert decoded.rejections == []
        assert 1 <= carried == len(decoded.events) <= per_record
        assert {event.subject for _, event in decoded.events} == {key.decode()}


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(600)
def run_bench_quick(
    kafka_bootstrap: str, out: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CSS_")}
    env["KAFKA_BOOTSTRAP_SERVERS"] = kafka_bootstrap
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "bench", "--quick", "--json", str(out), *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=580,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_bench_quick_writes_every_key(kafka_bootstrap: str, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = run_bench_quick(kafka_bootstrap, out)
    results = json.loads(out.read_text())
    for key in REQUIRED_KEYS:
        assert key in results, key
    for key in REQUIRED_KEYS:
        value = results[key]
        if key == "quix_events_per_s" and value is None:
            assert results.get("quix_note"), "a null Quix figure must say why"
            continue
        if key == "broker_cpu_us_per_event" and not results["broker_pid_known"]:
            continue
        if key in SIGNED:
            assert isinstance(value, int | float), (key, value)
            continue
        assert isinstance(value, int | float) and value > 0, (key, value)
    # One event's write does not carry the org's dedup memory (16 bytes an id packed, more
    # as base64 inside a JSON value): it stays well under that memory's size.
    heavy_ids = BenchSizes.choose(50, None, quick=True).heavy_org_ids
    assert 0 < results["heavy_org_flush_bytes"] < heavy_ids * 16 // 2
    closes = results["month_close_months"]
    assert results["month_close_records"] == results["month_close_orgs"] * closes
    # The table on stdout names every phase; progress went to stderr.
    for label in ("raw getmany", "single-event records", "latency p99", "peak RSS"):
        assert label in done.stdout
    assert "bench:" in done.stderr and "bench:" not in done.stdout


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_bench_runs_one_phase(kafka_bootstrap: str, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = run_bench_quick(kafka_bootstrap, out, "--phase", "month-close")
    results = json.loads(out.read_text())
    assert results["phases"] == ["month-close"]
    closes = results["month_close_months"]
    assert results["month_close_records"] == results["month_close_orgs"] * closes > 0
    assert "single_events_per_s" not in results and "raw_events_per_s" not in results
    assert "month close" in done.stdout
