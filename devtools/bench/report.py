"""The printed table of ``csscore bench`` (the JSON holds every figure)."""

from __future__ import annotations

from typing import Any

TABLE_ROWS = (
    ("raw_events_per_s", "(a) raw getmany + orjson.loads", "events/s"),
    ("single_events_per_s", "(b) scorer, single-event records", "events/s"),
    ("single_events_per_s_from_start", "    same, from the worker's start", "events/s"),
    ("single_tail_seconds", "    deferral tail after the last apply", "s"),
    ("worker_cpu_us_per_event", "    worker CPU per event", "us"),
    ("broker_cpu_us_per_event", "    broker CPU per event", "us"),
    ("produced_records_per_event", "    records produced per event", "records"),
    ("single_output_records_per_event", "      of which output", "records"),
    ("single_changelog_records_per_event", "      of which changelogs", "records"),
    ("single_internal_records_per_event", "      of which internal topics", "records"),
    ("live_records_per_event", "    live records per event", "records"),
    ("single_other_busy_cores", "    CPU of other processes (shared machine)", "cores"),
    ("output_bytes_per_event", "    output bytes per event", "bytes"),
    ("changelog_bytes_per_event", "    changelog bytes per event", "bytes"),
    ("batched_events_per_s", "(b) scorer, 100-event records", "events/s"),
    ("batched_events_per_s_from_start", "    same, from the worker's start", "events/s"),
    ("batched_worker_cpu_us_per_event", "    worker CPU per event", "us"),
    ("batched_broker_cpu_us_per_event", "    broker CPU per event", "us"),
    ("batched_changelog_bytes_per_event", "    changelog bytes per event", "bytes"),
    ("latency_load_events_per_s", "(c) latency load", "events/s"),
    ("latency_p50_ms", "(c) latency p50, live interval 0", "ms"),
    ("latency_p99_ms", "(c) latency p99, live interval 0", "ms"),
    ("latency_worker_cpu_us_per_event", "    worker CPU per event", "us"),
    ("latency_p99_ms_default_interval", "(c) latency p99, live interval 1 s", "ms"),
    ("rss_mb_10k_orgs", "(d) peak RSS, smaller org count", "MiB"),
    ("state_mb_10k_orgs", "(d) RocksDB size, smaller org count", "MiB"),
    ("rss_mb_100k_orgs", "(d) peak RSS, larger org count", "MiB"),
    ("state_mb_100k_orgs", "(d) RocksDB size, larger org count", "MiB"),
    ("events_per_s_100k_orgs", "(d) scorer at the larger org count", "events/s"),
    ("recovery_seconds_100k_orgs", "(d) recovery of the larger state", "s"),
    ("two_worker_events_per_s", "(e) two workers, single-event records", "events/s"),
    ("two_worker_seconds", "    timed from both assigned", "s"),
    ("two_worker_speedup", "(e) two workers / one, wall clock", "x"),
    ("two_worker_speedup_ceiling", "    ceiling min(2, cores/(w+b))", "x"),
    ("two_worker_cpu_efficiency", "    events per worker CPU s, two / one", "x"),
    ("two_worker_other_busy_cores", "    CPU of other processes (shared machine)", "cores"),
    ("month_close_records", "(f) month close: monthly records", "records"),
    ("month_close_months", "    closes (one month each)", "months"),
    ("month_close_records_per_s", "(f) month close rate", "records/s"),
    ("month_close_worker_cpu_us_per_event", "    worker CPU per monthly record", "us"),
    ("heavy_org_flush_bytes", "(g) one event, org with a full dedup memory", "bytes"),
    ("heavy_org_flush_bytes_100_ids", "(g) one event, org with 100 ids", "bytes"),
    ("heavy_org_flush_us", "(g) encoding the heavy org's value", "us"),
    ("quix_events_per_s", "peer: Quix Streams per-org counter", "events/s"),
    ("faust_naive_events_per_s", "peer: Faust, table update per event", "events/s"),
)


def format_table(results: dict[str, Any]) -> str:
    """One line per known figure; rows of phases that did not run are left out."""
    lines = [f"{'measure':<46} {'value':>14}  unit"]
    for key, label, unit in TABLE_ROWS:
        if key not in results:
            continue
        value = results[key]
        shown = "n/a" if value is None else f"{value:,}" if isinstance(value, int) else f"{value}"
        lines.append(f"{label:<46} {shown:>14}  {unit}")
    return "\n".join(lines)
