"""The test harness against a real broker: round trip, CLI lifecycle, restart, errors."""

from __future__ import annotations

import collections
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from devtools.kafka_local import LocalBroker, broker_answers, free_port
from tests.kafka_helpers import (
    BrokerHandle,
    consume_all,
    create_topic,
    end_offsets,
    produce_lines,
    unique_topic,
)

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "streams.cli"]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=env, timeout=180, check=False
    )


async def test_round_trip_of_1000_records_over_3_partitions(kafka_bootstrap: str) -> None:
    topic = unique_topic("harness")
    await create_topic(kafka_bootstrap, topic, partitions=3)
    values = [f'{{"n": {n}}}' for n in range(1000)]
    keys = [f"org-{n % 17}" for n in range(1000)]

    await produce_lines(kafka_bootstrap, topic, values, keys)
    records = await consume_all(kafka_bootstrap, topic, timeout=60)

    assert len(records) == 1000
    assert sorted(r.value for r in records) == sorted(v.encode() for v in values)
    assert sum((await end_offsets(kafka_bootstrap, topic)).values()) == 1000
    # Keyed records: one key lives in one partition, in the order it was produced.
    per_key: dict[bytes, list[tuple[int, int, bytes]]] = collections.defaultdict(list)
    for record in records:
        assert record.key is not None and record.value is not None
        per_key[record.key].append((record.partition, record.offset, record.value))
    assert len({p for entries in per_key.values() for p, _, _ in entries}) == 3
    for key, entries in per_key.items():
        assert len({partition for partition, _, _ in entries}) == 1, key
        produced = [v.encode() for v, k in zip(values, keys, strict=True) if k.encode() == key]
        assert [value for _, _, value in sorted(entries)] == produced


async def test_cli_lifecycle_twice_and_restart_keeps_data_and_port(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "broker"
    port = free_port()
    try:
        started = run_cli("kafka", "start", "--data-dir", str(data_dir), "--port", str(port))
        assert started.returncode == 0, started.stderr
        address = started.stdout.strip().splitlines()[-1]
        assert address == f"127.0.0.1:{port}"
        # The session broker already fetched the jars: nothing is downloaded again.
        assert "Fetching" not in started.stderr
        assert broker_answers(address)

        status = run_cli("kafka", "status", "--data-dir", str(data_dir))
        assert status.returncode == 0
        assert status.stdout.startswith("running")
        assert status.stdout.strip().splitlines()[-1] == address

        pid_before = LocalBroker(data_dir).running_pid()
        again = run_cli("kafka", "start", "--data-dir", str(data_dir))
        assert again.returncode == 0, again.stderr
        assert again.stdout.strip().splitlines()[-1] == address
        assert LocalBroker(data_dir).running_pid() == pid_before

        topic = unique_topic("persist")
        await create_topic(address, topic, partitions=2)
        await produce_lines(
            address, topic, [f"v{n}" for n in range(50)], [f"k{n}" for n in range(50)]
        )

        stopped = run_cli("kafka", "stop", "--data-dir", str(data_dir))
        assert stopped.returncode == 0, stopped.stderr
        assert not broker_answers(address, timeout=1.0)
        stopped_status = run_cli("kafka", "status", "--data-dir", str(data_dir))
        assert stopped_status.stdout.startswith("stopped")
        assert stopped_status.returncode == 3  # scripts can test it

        # Restart without --port: the recorded port comes back, and so does the data.
        restarted = run_cli("kafka", "start", "--data-dir", str(data_dir))
        assert restarted.returncode == 0, restarted.stderr
        assert restarted.stdout.strip().splitlines()[-1] == address
        records = await consume_all(address, topic, timeout=60)
        assert sorted(r.value for r in records) == sorted(f"v{n}".encode() for n in range(50))
    finally:
        run_cli("kafka", "stop", "--data-dir", str(data_dir))
    assert not LocalBroker(data_dir).status().running


def test_missing_java_is_one_line_and_exit_2(tmp_path: Path) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(empty_bin)
    result = run_cli("kafka", "start", "--data-dir", str(tmp_path / "d"), env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "java" in lines[0] and "install" in lines[0]
    assert result.stdout == ""


def test_port_in_use_is_one_line_and_exit_2(kafka_bootstrap: str, tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        result = run_cli("kafka", "start", "--data-dir", str(tmp_path / "d"), "--port", str(busy))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"port {busy}" in lines[0] and "in use" in lines[0]
    assert not (tmp_path / "d" / "broker.pid").exists()


async def test_private_broker_survives_sigkill_and_restarts_on_its_port(
    kafka_broker_factory: Callable[..., BrokerHandle],
) -> None:
    broker = kafka_broker_factory()
    address = broker.bootstrap
    topic = unique_topic("killed")
    await create_topic(address, topic, partitions=2)
    await produce_lines(
        address, topic, [f"m{n}" for n in range(100)], [f"k{n}" for n in range(100)]
    )

    assert broker.kill()
    assert not broker.is_running()
    assert not broker_answers(address, timeout=1.0)

    assert broker.restart() == address
    records = await consume_all(address, topic, timeout=60)
    assert sorted(r.value for r in records) == sorted(f"m{n}".encode() for n in range(100))


def test_foreground_start_stops_the_broker_on_sigterm(kafka_bootstrap: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "fg"
    process = subprocess.Popen(
        [*CLI, "kafka", "start", "--foreground", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        while not (lines and lines[-1].startswith("127.0.0.1:")):
            line = process.stdout.readline()
            assert line, (
                f"start --foreground ended early: {process.stderr and process.stderr.read()}"
            )
            lines.append(line.strip())
        assert broker_answers(lines[-1])
        assert process.poll() is None  # still attached while the broker runs
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert not LocalBroker(data_dir).status().running
        assert not broker_answers(lines[-1], timeout=1.0)
    finally:
        if process.poll() is None:
            process.kill()
        LocalBroker(data_dir).stop(timeout=10)


async def test_tail_alerts_shows_each_alert_with_its_latest_revision(kafka_bootstrap: str) -> None:
    topic = unique_topic("alerts")
    await create_topic(kafka_bootstrap, topic, partitions=2)

    def alert(kind: str, revision: int, changed: bool, since: str | None) -> str:
        return json.dumps({
            "schema": "css.alert/v1", "org_id": "org-tail", "kind": kind, "scope": "overall",
            "period": "2026-02", "revision": revision, "changed": changed,
            "from": {"band": "excellent", "score": 80}, "to": {"band": "fair", "score": 20},
            "movers": [{"signal": "sales_cloud.license_activation", "change": -60}],
            "since": since, "as_of": "2026-03-01T00:00:00Z",
        })  # fmt: skip

    values = [
        alert("band_change", 0, True, None),
        alert("band_change", 1, False, None),  # the change was revised away
        alert("at_risk", 0, True, "2026-02-03T09:00:00Z"),
    ]
    await produce_lines(kafka_bootstrap, topic, values, ["org-tail"] * 3)
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "COLUMNS": "250"}
    tail = ["tail", "--alerts", "--topic", topic, "--from-beginning", "--until-end"]
    done = run_cli(*tail, env=env)  # not a terminal: one timestamped line per record
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if "org-tail" in line]
    assert len(rows) == 3, done.stdout
    assert "band_change overall 2026-02 excellent (80) -> fair (20) changed=yes rev=0" in rows[0]
    assert "changed=no rev=1" in rows[1]  # the change was revised away
    assert "at_risk" in rows[2] and "since=2026-02-03T09:00:00Z" in rows[2]
    assert "top_mover=sales_cloud.license_activation:-60" in rows[2]
    as_json = run_cli(*tail, "--output", "json", env=env)
    assert as_json.returncode == 0, as_json.stderr
    assert [json.loads(line) for line in as_json.stdout.splitlines()] == [
        json.loads(value) for value in values
    ]


def test_a_worker_on_a_busy_metrics_port_is_one_line(kafka_bootstrap: str, tmp_path: Path) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        app = unique_topic("busy")
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "CSS_APP_ID": app,
               "CSS_INPUT_TOPIC": f"{app}-in", "CSS_OUTPUT_TOPIC": f"{app}-out",
               "CSS_DLQ_TOPIC": f"{app}-dlq", "CSS_DATA_DIR": str(tmp_path),
               "CSS_METRICS_ADDR": f"127.0.0.1:{port}"}  # fmt: skip
        done = run_cli("worker", env=env)
    finally:
        busy.close()
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert f"cannot serve metrics on 127.0.0.1:{port}" in last and "CSS_METRICS_ADDR" in last
