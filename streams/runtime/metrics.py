"""Prometheus metrics of a worker, on a registry passed in (tests use their own).

Naming follows Prometheus conventions: ``css_`` prefix, ``_total`` for counters,
``_seconds`` for durations. No metric carries an org id as a label (cardinality): band
distribution is counted per category only.

Faust's own Prometheus sensor (``faust.sensors.prometheus``) is not used: its latencies are
in milliseconds, its names break the conventions above (``*_total_events_total``), and it
updates a counter on every table get/set, a cost per event on the hot path. Consumer lag,
its one metric we need, is set by the ingest stage (high water minus its position).
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    start_http_server,
)

from scoring.alerts import ALERT_KINDS
from streams.codec.decoding import REASONS

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# The sample names a metric family of each type exposes in the text format (the
# ``_created`` samples of counters and histograms are turned off: a series per counter
# that dashboards never read).
_SAMPLE_SUFFIXES: dict[str, tuple[str, ...]] = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("", "_count", "_sum"),
    "info": ("_info",),
}


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        # process_cpu_seconds_total, process_resident_memory_bytes, open fds, start time.
        ProcessCollector(registry=r)
        self.events = Counter(
            "css_events",
            "Valid events consumed from the input topic, by CloudEvents type "
            "(duplicates and too_old included; see the other counters).",
            ["type"],
            registry=r,
        )
        self.accepted = Counter(
            "css_events_accepted",
            "Events applied to an org's state, by type.",
            ["type"],
            registry=r,
        )
        self.records = Counter(
            "css_input_records", "Kafka records read from the input topic.", registry=r
        )
        self.rejected = Counter(
            "css_events_rejected",
            "Events or records dead-lettered, by reason code (spec section 7).",
            ["reason"],
            registry=r,
        )
        for reason in REASONS:
            self.rejected.labels(reason)  # every reason is scraped from the start, at 0
        self.duplicates = Counter(
            "css_duplicates",
            "Events dropped as duplicates of an event already applied (same source and id).",
            registry=r,
        )
        self.redelivered = Counter(
            "css_redelivered_records",
            "Input records skipped because their offset was already applied (redelivery).",
            registry=r,
        )
        self.late = Counter(
            "css_late_events",
            "Accepted events whose month was already closed (they trigger revisions).",
            registry=r,
        )
        self.emitted = Counter(
            "css_score_records",
            "Score records produced to the output topic, by kind (live or monthly).",
            ["kind"],
            registry=r,
        )
        self.alerts = Counter(
            "css_alerts",
            "Alerts produced to the alerts topic, by kind (band_change, at_risk, recovered).",
            ["kind"],
            registry=r,
        )
        for kind in ALERT_KINDS:
            self.alerts.labels(kind)  # every kind is scraped from the start, at 0
        self.dlq_writes = Counter(
            "css_dlq_records", "Records written to the dead-letter topic.", registry=r
        )
        self.orgs = Gauge(
            "css_orgs_tracked",
            "Orgs whose state this worker holds (assigned partitions).",
            registry=r,
        )
        self.bands = Gauge(
            "css_orgs_by_band",
            "Orgs per band of their latest live record, per category (and overall).",
            ["category", "band"],
            registry=r,
        )
        self.latency = Histogram(
            "css_event_to_score_seconds",
            "From the input record's timestamp to the score record being produced.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.watermark = Gauge(
            "css_partition_watermark_seconds",
            "Per-partition watermark: the largest accepted event time (epoch seconds).",
            ["partition"],
            registry=r,
        )
        self.watermark_lag = Gauge(
            "css_partition_watermark_lag_seconds",
            "How far the partition watermark is behind the wall clock.",
            ["partition"],
            registry=r,
        )
        self.closed_month = Gauge(
            "css_partition_closed_month_start_seconds",
            "Start of the latest month whose monthly records were all emitted, per partition.",
            ["partition"],
            registry=r,
        )
        self.last_event = Gauge(
            "css_last_event_processed_timestamp_seconds",
            "Wall-clock time at which the worker last processed an input record.",
            registry=r,
        )
        self.first_applied = Gauge(
            "css_first_applied_timestamp_seconds",
            "Wall-clock time at which this worker process first applied input events.",
            registry=r,
        )
        self.last_applied = Gauge(
            "css_last_applied_timestamp_seconds",
            "Wall-clock time at which the worker last applied input events (a pass that "
            "consumed events; wake-ups and ticks alone do not count).",
            registry=r,
        )
        self.flush_seconds = Histogram(
            "css_state_flush_seconds",
            "State flushes before offset commits: from taking the changed values to "
            "acknowledging the records (output acks, changelog acks, local write).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.flushed_orgs = Counter(
            "css_state_flushed_orgs",
            "Org values written to the changelog by state flushes (once per flush each).",
            registry=r,
        )
        self.dirty_orgs = Gauge(
            "css_state_dirty_orgs",
            "Orgs changed since the last flush began (held in memory until written).",
            registry=r,
        )
        self.scoring_lag = Gauge(
            "css_scoring_lag_records",
            "Records this worker has been given and not scored yet: input records the ingest"
            " stage has not read plus internal records the agent has not scored (0: done).",
            registry=r,
        )
        self.consumer_lag = Gauge(
            "css_consumer_lag_records",
            "Records between the worker's position and the end of each input partition.",
            ["partition"],
            registry=r,
        )
        self.agent_errors = Counter(
            "css_agent_errors",
            "Unexpected errors that stopped the worker (it exits so a supervisor restarts it).",
            registry=r,
        )

    def exported_names(self) -> set[str]:
        """Every sample name this registry can expose, labelled children or not yet.

        A labelled metric has no samples until its first ``labels(...)`` call, so the
        names come from each family's type, not from a scrape.
        """
        names: set[str] = set()
        for family in self.registry.collect():
            suffixes = _SAMPLE_SUFFIXES.get(family.type, ("",))
            names.update(family.name + suffix for suffix in suffixes)
        return names

    def serve(self, host: str, port: int) -> int:
        """Start the /metrics HTTP endpoint; returns the bound port (0 picks a free one)."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        bound: int = server.server_port
        return bound
