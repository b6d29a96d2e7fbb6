"""A real Prometheus server scrapes a real worker.

A ``csscore worker`` runs against the session broker with its metrics on a free port; the
Debian ``prometheus`` binary scrapes it every second (generated config, temporary TSDB,
free localhost port). Through Prometheus's HTTP API: the target is up, ``css_events_total``
has no series before any event, and after a known number of valid events is produced its
sum reaches exactly that number. Without the binary the test skips, except under
``CI=true`` where it fails (``make tools`` installs it).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.generate import generate_lines
from streams.cli.feed import plan_records, produce_records
from streams.config import KafkaSecurity
from tests.kafka_helpers import create_topic, unique_topic
from tests.worker_harness import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
JOB = "csscore-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(
    fact: Callable[[], Any], what: str, timeout: float, alive: Callable[[], str | None]
) -> Any:
    """Poll ``fact`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        problem = alive()
        if problem is not None:
            raise AssertionError(problem)
        value = fact()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class PrometheusServer:
    """The ``prometheus`` binary on a free localhost port with a temporary TSDB."""

    def __init__(self, binary: str, workdir: Path, target: str) -> None:
        self.port = free_port()
        self.log_path = workdir / "prometheus.log"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {"job_name": JOB, "static_configs": [{"targets": [target]}]},
            ],
        }
        config_path = workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_path}",
                    f"--storage.tsdb.path={workdir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=1h",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def problem(self) -> str | None:
        if self.process.poll() is None:
            return None
        return f"prometheus exited {self.process.returncode}:\n{self.log_path.read_text()[-3000:]}"

    def get(self, path: str) -> Any:
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body = response.read()
        except OSError:
            return None
        return json.loads(body) if path.startswith("/api/") else body

    def query(self, promql: str) -> list[dict[str, Any]]:
        answer = self.get("/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        if answer is None or answer.get("status") != "success":
            return []
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture
def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        message = "prometheus not installed (make tools: Debian package prometheus)"
        if IN_CI:
            pytest.fail(f"{message}; it is required under CI=true", pytrace=False)
        pytest.skip(message)
    return found


@pytest.fixture
def worker(kafka_bootstrap: str, tmp_path: Path) -> Iterator[WorkerProcess]:
    topic = unique_topic("telemetry")
    asyncio.run(create_topic(kafka_bootstrap, topic, 2))
    process = WorkerProcess(
        bootstrap=kafka_bootstrap,
        app_id=unique_topic("promscrape"),
        input_topic=topic,
        output_topic=unique_topic("scores"),
        dlq_topic=unique_topic("dlq"),
        data_dir=tmp_path / "worker",
        log_path=tmp_path / "worker.log",
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def total(result: list[dict[str, Any]]) -> float | None:
    """The value of a single-series instant-vector answer (a ``sum(...)``)."""
    return float(result[0]["value"][1]) if result else None


def test_prometheus_sees_css_events_total_rise(
    prometheus_binary: str, worker: WorkerProcess, kafka_bootstrap: str, tmp_path: Path
) -> None:
    def worker_problem() -> str | None:
        if worker.alive():
            return None
        return f"worker exited:\n{worker.log_text()[-3000:]}"

    port = wait_for(worker.metrics_port, "the worker's metrics port", 120, worker_problem)
    server = PrometheusServer(prometheus_binary, tmp_path, f"127.0.0.1:{port}")

    def both_problems() -> str | None:
        return worker_problem() or server.problem()

    try:
        wait_for(lambda: server.get("/-/ready"), "prometheus ready", 60, both_problems)
        up = wait_for(
            lambda: server.query(f'up{{job="{JOB}"}} == 1'), "the target up", 60, both_problems
        )
        assert up[0]["metric"]["instance"] == f"127.0.0.1:{port}"
        # The worker's own series are scraped, but no event has been consumed yet.
        wait_for(
            lambda: server.query(f'css_input_records_total{{job="{JOB}"}}'),
            "css_input_records_total scraped",
            60,
            both_problems,
        )
        assert total(server.query(f'sum(css_events_total{{job="{JOB}"}})')) is None

        # Valid events only (no poison, no repeats): css_events_total counts each once.
        lines = list(generate_lines(5, 3, seed=3, bad_rate=0.0, dup_rate=0.0))
        records = list(plan_records(lines, 1))
        asyncio.run(
            produce_records(
                records,
                worker.input_topic,
                bootstrap=kafka_bootstrap,
                security=KafkaSecurity.from_env({}),
            )
        )
        expected = float(len(lines))
        assert expected > 20

        def reached() -> float | None:
            value = total(server.query(f'sum(css_events_total{{job="{JOB}"}})'))
            return value if value is not None and value >= expected else None

        seen = wait_for(reached, f"sum(css_events_total) >= {expected}", 180, both_problems)
        assert seen == expected
        # The latency histogram was scraped too: the dashboard's percentile query answers.
        p99 = server.query(
            "histogram_quantile(0.99, sum by (le) "
            f'(rate(css_event_to_score_seconds_bucket{{job="{JOB}"}}[1m])))'
        )
        assert p99, "no latency histogram in Prometheus"
        print(f"prometheus scrape: {int(seen)} events counted via Prometheus on :{server.port}")
    finally:
        server.stop()
