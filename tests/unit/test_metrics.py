"""Worker metrics (issue 6): naming conventions, the exported names, the HTTP endpoint,
Faust's optional sensor on our registry, and the consumer-lag updater (``streams.lag``)."""

from __future__ import annotations

import asyncio
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.transport.consumer import Consumer as FaustConsumer
from faust.types import TP
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streams.lag import ConsumerLagUpdater, partition_lag
from streams.runtime.metrics import FAUST_SENSOR_PREFIX, Metrics

# Labels that would carry one series per org (unbounded cardinality).
PER_ORG_LABELS = {"org", "org_id", "subject", "organization", "tenant"}


def families(metrics: Metrics) -> list[Any]:
    return list(metrics.registry.collect())


def test_every_metric_follows_the_prometheus_conventions() -> None:
    found = families(Metrics())
    assert len(found) >= 15  # the issue lists at least this many signals
    for family in found:
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


def test_faust_sensor_records_on_our_registry() -> None:
    metrics = Metrics()
    app = faust.App("metrics-test", broker="kafka://127.0.0.1:1", web_enabled=False)
    metrics.attach_faust_sensors(app)
    app.monitor.on_tp_commit({TP("telemetry", 2): 41})
    value = metrics.registry.get_sample_value(
        f"{FAUST_SENSOR_PREFIX}_topic_partition_offset_commited",
        {"topic": "telemetry", "partition": "2"},
    )
    assert value == 41.0
    assert f"{FAUST_SENSOR_PREFIX}_messages_received_total" in metrics.exported_names()


# --- consumer lag -------------------------------------------------------------------------


@given(st.integers(0, 10**12), st.integers(0, 10**12))
def test_partition_lag_is_the_distance_to_the_highwater_never_negative(
    highwater: int, committed: int
) -> None:
    lag = partition_lag(highwater, committed)
    assert lag is not None and lag >= 0
    assert lag == (highwater - committed if committed <= highwater else 0)


@given(st.one_of(st.none(), st.integers(-5, -1)), st.integers(0, 100))
def test_partition_lag_is_unknown_without_offsets(missing: int | None, other: int) -> None:
    assert partition_lag(missing, other) is None
    assert partition_lag(other, missing) is None


@dataclass
class FakeConsumer:
    """The slice of Faust's aiokafka consumer that ConsumerLagUpdater reads."""

    assigned: set[TP]
    highwaters: dict[TP, int | None]
    positions: dict[TP, int] = field(default_factory=dict)
    _committed_offset: dict[TP, int | None] = field(default_factory=dict)

    def assignment(self) -> set[TP]:
        return set(self.assigned)

    def highwater(self, tp: TP) -> int | None:
        return self.highwaters.get(tp)

    async def position(self, tp: TP) -> int | None:
        return self.positions.get(tp)


@dataclass
class FakeApp:
    consumer: FakeConsumer


def lag_samples(metrics: Metrics) -> dict[str, float]:
    return {
        sample.labels["partition"]: sample.value
        for family in metrics.registry.collect()
        if family.name == "css_consumer_lag_records"
        for sample in family.samples
    }


def test_lag_updater_sets_removes_and_falls_back_to_the_position() -> None:
    t0, t1, t2 = TP("telemetry", 0), TP("telemetry", 1), TP("telemetry", 2)
    control = TP("app-control", 0)
    consumer = FakeConsumer(
        assigned={t0, t1, control},
        highwaters={t0: 100, t1: 50, control: 999},
        positions={t1: 20},
        _committed_offset={t0: 70, control: 0},
    )
    metrics = Metrics()
    updater = ConsumerLagUpdater(FakeApp(consumer), metrics, "telemetry")

    # Committed offset where there is one; the fetch position before the first commit;
    # other topics (the control topic) are not input lag.
    assert asyncio.run(updater.update()) == {0: 30, 1: 30}
    assert lag_samples(metrics) == {"0": 30.0, "1": 30.0}

    # A rebalance moves partition 1 away and brings 2 whose high watermark is not known
    # yet: 1's series goes, 2 gets none until it is known, 0 follows its commits.
    consumer.assigned = {t0, t2}
    consumer._committed_offset[t0] = 100
    consumer.highwaters[t2] = None
    assert asyncio.run(updater.update()) == {0: 0}
    assert lag_samples(metrics) == {"0": 0.0}

    # An owned partition whose high watermark is momentarily unknown keeps its last value.
    consumer.highwaters[t2] = 10
    consumer._committed_offset[t2] = 4
    asyncio.run(updater.update())
    consumer.highwaters[t2] = None
    assert asyncio.run(updater.update()) == {0: 0}
    assert lag_samples(metrics) == {"0": 0.0, "2": 6.0}


def test_faust_consumer_still_has_what_the_lag_updater_reads() -> None:
    """faust-streaming 0.15.3: a private attribute is read, so pin its existence."""
    for name in ("assignment", "highwater", "position"):
        assert callable(getattr(FaustConsumer, name))
    assert "_committed_offset" in FaustConsumer.__annotations__
