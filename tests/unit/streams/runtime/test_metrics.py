"""Worker metrics: naming conventions, the exported names, the HTTP endpoint."""

from __future__ import annotations

import urllib.request
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streams.runtime.metrics import Metrics

# Labels that would carry one series per org (unbounded cardinality).
PER_ORG_LABELS = {"org", "org_id", "subject", "organization", "tenant"}


def families(metrics: Metrics) -> list[Any]:
    return list(metrics.registry.collect())


def test_every_metric_follows_the_prometheus_conventions() -> None:
    found = families(Metrics())
    assert len(found) >= 15  # the issue lists at least this many signals
    for family in found:
        if family.name.startswith("process_"):
            continue  # prometheus_client's standard process metrics
        assert family.name.startswith("css_"), family.name
        assert len(family.documentation) >= 20, f"{family.name}: help text too short"
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name
        if family.type == "counter":
            # prometheus_client appends _total itself; a family named *_total would
            # be exported as *_total_total.
            assert not family.name.endswith("_total"), family.name


def test_no_metric_has_a_per_org_label() -> None:
    metrics = Metrics()
    for family in families(metrics):
        if family.name.startswith("process_"):
            continue  # no labels at all
        wrapper = metrics.registry._names_to_collectors[family.name]
        labels = set(getattr(wrapper, "_labelnames", ()))
        assert not labels & PER_ORG_LABELS, (family.name, labels)


def test_exported_names_are_the_scraped_sample_names() -> None:
    metrics = Metrics()
    # Give every labelled metric one child so a scrape shows all its samples.
    metrics.events.labels("t").inc()
    metrics.accepted.labels("t").inc()
    metrics.rejected.labels("invalid_json").inc()
    metrics.emitted.labels("live").inc()
    metrics.bands.labels("overall", "good").set(1)
    for gauge in (
        metrics.watermark,
        metrics.watermark_lag,
        metrics.closed_month,
        metrics.consumer_lag,
    ):
        gauge.labels("0").set(1)
    metrics.latency.observe(0.2)
    text = generate_latest(metrics.registry).decode()
    scraped = {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }
    assert scraped == metrics.exported_names()
    for name in (
        "css_events_total",
        "css_events_rejected_total",
        "css_dlq_records_total",
        "css_event_to_score_seconds_bucket",
        "css_consumer_lag_records",
        "css_last_event_processed_timestamp_seconds",
        "css_partition_closed_month_start_seconds",
    ):
        assert name in scraped


def test_serve_on_port_zero_exposes_the_registry_over_http() -> None:
    metrics = Metrics()
    metrics.events.labels("com.example.login").inc(3)
    port = metrics.serve("127.0.0.1", 0)
    assert port > 0
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        body = response.read().decode()
    values = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }
    assert values[("css_events_total", (("type", "com.example.login"),))] == 3.0


def test_process_series_no_created_series_and_every_reason_from_the_start() -> None:
    from prometheus_client import generate_latest

    text = generate_latest(Metrics().registry).decode()
    assert "process_resident_memory_bytes" in text and "process_cpu_seconds_total" in text
    assert "_created" not in text
    assert 'css_events_rejected_total{reason="too_old"} 0.0' in text
    assert 'css_alerts_total{kind="at_risk"} 0.0' in text
