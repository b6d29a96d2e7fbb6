"""Deployment files checked without Docker.

``promtool`` validates the Prometheus config and alert rules and runs their unit tests;
the compose file, Dockerfile and Grafana provisioning are checked structurally; every
metric a dashboard panel or an alert queries must be one the worker really exports
(``Metrics().exported_names()``). ``promtool`` comes from Debian's ``prometheus`` package
(``make tools``); when it is missing the checks skip, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.runtime.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROMETHEUS_DIR = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "csscore.json"
COMPOSE = ROOT / "docker-compose.yml"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# Series Prometheus makes up itself for every scrape target.
SCRAPE_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
PROMQL_KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
}
ALERTS = {
    "CsscoreWorkerDown",
    "CsscoreConsumerLagGrowing",
    "CsscoreRejectionRatioHigh",
    "CsscoreNoEventsProcessed",
    "CsscoreDlqGrowing",
    "CsscoreMonthNotClosed",
}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, label matchers,
    grouping label lists, durations and strings removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', " ", expr)  # strings
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    grouping = r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"
    text = re.sub(grouping, " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        name = match.group(0)
        following = text[match.end() :].lstrip()
        if following.startswith("("):  # a function call
            continue
        if name.lower() in PROMQL_KEYWORDS:
            continue
        names.add(name)
    return names


def test_metric_name_extraction() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(css_x_bucket{job="a", le!="1"}[5m])))'
        " / on() group_left() sum without (instance) (up) > bool 3"
    )
    assert metric_names(expr) == {"css_x_bucket", "up"}


@pytest.fixture(scope="module")
def exported() -> set[str]:
    return Metrics().exported_names() | SCRAPE_SERIES


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        message = "promtool not installed (make tools: Debian package prometheus)"
        if IN_CI:
            pytest.fail(f"{message}; it is required under CI=true", pytrace=False)
        pytest.skip(message)
    return found


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- Prometheus -------------------------------------------------------------------------


def test_promtool_check_config() -> None:
    result = run_promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout + result.stderr


def test_promtool_check_rules() -> None:
    result = run_promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(ALERTS)} rules found" in result.stdout + result.stderr


def test_promtool_test_rules() -> None:
    tests = sorted(path.name for path in PROMETHEUS_DIR.glob("*_test.yml"))
    assert tests == ["alerts_month_test.yml", "alerts_test.yml"]
    result = run_promtool("test", "rules", *tests)
    assert result.returncode == 0, result.stdout + result.stderr


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_every_alert_exists_and_queries_exported_metrics(exported: set[str]) -> None:
    rules = [
        rule
        for group in load_yaml(PROMETHEUS_DIR / "alerts.yml")["groups"]
        for rule in group["rules"]
    ]
    assert {rule["alert"] for rule in rules} == ALERTS
    for rule in rules:
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= exported, (rule["alert"], names - exported)
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]


def test_alert_unit_tests_cover_every_alert() -> None:
    covered = {
        case["alertname"]
        for path in PROMETHEUS_DIR.glob("*_test.yml")
        for test in load_yaml(path)["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")  # a case where the alert is expected to fire
    }
    assert covered == ALERTS


def test_scrape_config_targets_the_compose_workers() -> None:
    config = load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    compose = load_yaml(COMPOSE)
    job = next(job for job in config["scrape_configs"] if job["job_name"] == "csscore")
    targets = {t for static in job["static_configs"] for t in static["targets"]}
    workers = {name for name in compose["services"] if name.startswith("worker-")}
    assert targets == {f"{name}:9108" for name in workers}
    assert config["rule_files"] == ["alerts.yml"]


# --- compose ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = load_yaml(COMPOSE)
    assert isinstance(document, dict)
    return document


def test_compose_services_images_and_profiles(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {
        "kafka",
        "worker-1",
        "worker-2",
        "prometheus",
        "grafana",
        "demo-producer",
    }
    assert services["kafka"]["image"] == "apache/kafka:3.9.1"
    kafka_env = services["kafka"]["environment"]
    assert set(kafka_env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert kafka_env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert int(kafka_env["KAFKA_MESSAGE_MAX_BYTES"]) == 8 * 1024 * 1024
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["grafana"]["image"].startswith("grafana/grafana:")
    # Only the demo producer sits behind a profile: `docker compose up` starts the rest.
    profiled = {name: s["profiles"] for name, s in services.items() if "profiles" in s}
    assert profiled == {"demo-producer": ["demo"]}
    demo = services["demo-producer"]
    command = " ".join(demo["command"])
    assert "csscore generate" in command and "csscore produce" in command
    assert re.search(r"--rate [1-9]\d*\b", command), "the demo must be rate-limited"


def test_compose_workers_build_the_image_and_share_one_group(compose: dict[str, Any]) -> None:
    workers = [compose["services"]["worker-1"], compose["services"]["worker-2"]]
    for worker in workers:
        assert worker["build"]["dockerfile"] == "deploy/Dockerfile"
        env = worker["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["CSS_METRICS_ADDR"] == "0.0.0.0:9108"
        assert worker["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert workers[0]["environment"]["CSS_APP_ID"] == workers[1]["environment"]["CSS_APP_ID"]
    # Each worker keeps its own RocksDB state.
    assert workers[0]["volumes"] != workers[1]["volumes"]


def test_compose_healthchecks_and_ports(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("kafka", "worker-1", "worker-2", "prometheus", "grafana"):
        check = services[name]["healthcheck"]
        assert check["test"][0] in {"CMD", "CMD-SHELL"}, name
    host_ports = []
    for name, service in services.items():
        for mapping in service.get("ports", []):
            host, host_port, container_port = str(mapping).split(":")
            assert host == "127.0.0.1", f"{name} publishes {mapping} beyond loopback"
            host_ports.append(int(host_port))
            assert int(container_port) > 0
    assert len(host_ports) == len(set(host_ports))
    assert {9090, 3000, 9108, 9109, 29092} <= set(host_ports)


def test_compose_mounts_exist(compose: dict[str, Any]) -> None:
    named = set(compose.get("volumes", {}))
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source} missing"
            else:
                assert source in named, f"{name}: volume {source} not declared"


# --- Dockerfile -------------------------------------------------------------------------


def test_dockerfile_slim_non_root_healthcheck() -> None:
    lines = [
        line.strip()
        for line in (DEPLOY / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    instructions = [line.split()[0] for line in lines if line.split()[0].isupper()]
    assert lines[0] == "FROM python:3.11-slim"
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}
    assert instructions.index("USER") < instructions.index("CMD")
    text = "\n".join(lines)
    assert "HEALTHCHECK" in instructions and "urllib.request" in text and "curl" not in text
    assert "CSS_METRICS_ADDR=0.0.0.0:9108" in text
    assert lines[-1] == 'CMD ["worker"]' and 'ENTRYPOINT ["csscore"]' in lines


# --- Grafana ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    document = json.loads(DASHBOARD.read_text())
    assert isinstance(document, dict)
    return document


def panel_queries(dashboard: dict[str, Any]) -> dict[str, list[str]]:
    return {
        panel["title"]: [target["expr"] for target in panel.get("targets", [])]
        for panel in dashboard["panels"]
    }


def test_every_panel_query_names_an_exported_metric(
    dashboard: dict[str, Any], exported: set[str]
) -> None:
    queries = panel_queries(dashboard)
    assert len(queries) >= 5
    for title, exprs in queries.items():
        assert exprs, f"panel {title!r} has no query"
        for expr in exprs:
            names = metric_names(expr)
            assert names, (title, expr)
            assert names <= exported, (title, names - exported)


def test_dashboard_has_the_required_views(dashboard: dict[str, Any]) -> None:
    everything = " ".join(expr for exprs in panel_queries(dashboard).values() for expr in exprs)
    assert "css_events_total" in everything  # throughput
    assert "css_consumer_lag_records" in everything
    assert "sum by (reason) (rate(css_events_rejected_total" in everything
    quantiles = re.findall(
        r"histogram_quantile\((0\.\d+), [^;]*?css_event_to_score_seconds_bucket", everything
    )
    assert {"0.5", "0.99"} <= set(quantiles)
    assert "sum by (category, band) (css_orgs_by_band)" in everything
    assert "sum by (kind) (increase(css_alerts_total" in everything
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_grafana_provisioning_matches_compose_and_dashboard(
    compose: dict[str, Any], dashboard: dict[str, Any]
) -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    datasource = load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"][0]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    # Every panel uses the provisioned datasource by uid.
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == datasource["uid"]
    provider = load_yaml(provisioning / "dashboards" / "csscore.yml")["providers"][0]
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"])
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"


# --- the three-broker override ---------------------------------------------------------


def _merged_cluster_compose() -> dict[str, Any]:
    """docker-compose.yml with deploy/compose.cluster.yml merged over it (maps merge key
    by key, as `docker compose -f A -f B` does for environment and depends_on)."""

    def merge(base: Any, over: Any) -> Any:
        if not (isinstance(base, dict) and isinstance(over, dict)):
            return over
        merged = dict(base)
        for key, value in over.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged

    return dict(merge(load_yaml(COMPOSE), load_yaml(DEPLOY / "compose.cluster.yml")))


def test_the_cluster_override_makes_a_consistent_three_node_quorum() -> None:
    services = _merged_cluster_compose()["services"]
    brokers = {name: s for name, s in services.items() if name.startswith("kafka")}
    assert set(brokers) == {"kafka", "kafka-2", "kafka-3"}
    voters = {b["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"] for b in brokers.values()}
    assert voters == {"1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093"}
    ids = sorted(b["environment"]["KAFKA_NODE_ID"] for b in brokers.values())
    assert ids == ["1", "2", "3"]
    for name, broker in brokers.items():
        env = broker["environment"]
        assert broker["image"] == "apache/kafka:3.9.1", name
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3", name
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2", name
        assert f"PLAINTEXT://{name}:9092" in env["KAFKA_ADVERTISED_LISTENERS"], name
        assert broker["healthcheck"]["test"][0] == "CMD-SHELL", name
    everyone = "kafka:9092,kafka-2:9092,kafka-3:9092"
    for name in ("worker-1", "worker-2", "demo-producer"):
        assert services[name]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == everyone, name
    for name in ("worker-1", "worker-2"):
        assert set(services[name]["depends_on"]) == {"kafka", "kafka-2", "kafka-3"}
    host_ports = [str(p).split(":")[1] for s in services.values() for p in s.get("ports", [])]
    assert len(host_ports) == len(set(host_ports))
    published = [str(p) for s in services.values() for p in s.get("ports", [])]
    assert all(mapping.startswith("127.0.0.1:") for mapping in published)
