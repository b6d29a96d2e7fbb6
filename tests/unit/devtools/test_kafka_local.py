"""Unit tests of the local-broker plumbing that need no broker and no Java."""

from __future__ import annotations

import os
import socket
import stat
import struct
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devtools import kafka_local
from devtools.kafka_local import (
    BrokerPorts,
    KafkaLocalError,
    LocalBroker,
    broker_answers,
    decode_metadata_brokers,
    encode_metadata_request,
    probe_metadata,
)
from streams.cli import main as cli


def _string(value: str) -> bytes:
    raw = value.encode()
    return struct.pack(">h", len(raw)) + raw


def metadata_answer(correlation_id: int, brokers: list[tuple[int, str, int, str | None]]) -> bytes:
    """A Metadata v4 response body as a broker writes it (topics left empty)."""
    out = struct.pack(">ii", correlation_id, 0) + struct.pack(">i", len(brokers))
    for node_id, host, port, rack in brokers:
        out += struct.pack(">i", node_id) + _string(host) + struct.pack(">i", port)
        out += struct.pack(">h", -1) if rack is None else _string(rack)
    out += _string("cluster") + struct.pack(">i", 1) + struct.pack(">i", 0)
    return out


brokers_strategy = st.lists(
    st.tuples(
        st.integers(0, 2**31 - 1),
        st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40),
        st.integers(1, 65535),
        st.none() | st.text(max_size=10),
    ),
    max_size=5,
)


@given(brokers=brokers_strategy, correlation_id=st.integers(-(2**31), 2**31 - 1))
def test_decode_returns_every_broker_of_the_answer(
    brokers: list[tuple[int, str, int, str | None]], correlation_id: int
) -> None:
    decoded = decode_metadata_brokers(metadata_answer(correlation_id, brokers), correlation_id)
    assert decoded == [(node, host, port) for node, host, port, _ in brokers]


@given(brokers=brokers_strategy.filter(bool), cut=st.integers(1, 200))
def test_decode_rejects_a_truncated_answer(
    brokers: list[tuple[int, str, int, str | None]], cut: int
) -> None:
    full = metadata_answer(7, brokers)
    # Keep the trailing cluster id/controller/topics out of the cut: they are not parsed.
    brokers_end = len(full) - (len(_string("cluster")) + 8)
    truncated = full[: max(0, brokers_end - cut)]
    with pytest.raises((ValueError, struct.error)):
        decode_metadata_brokers(truncated, 7)


def test_decode_rejects_a_foreign_correlation_id() -> None:
    with pytest.raises(ValueError, match="correlation"):
        decode_metadata_brokers(metadata_answer(1, [(1, "h", 9092, None)]), 2)


def test_request_is_metadata_v4_with_no_topics() -> None:
    request = encode_metadata_request(42, client_id="c")
    (size,) = struct.unpack_from(">i", request)
    assert size == len(request) - 4
    api_key, api_version, correlation = struct.unpack_from(">hhi", request, 4)
    assert (api_key, api_version, correlation) == (3, 4, 42)
    assert request.endswith(struct.pack(">i?", 0, False))


def _serve_once(answer_for: object) -> tuple[socket.socket, threading.Thread]:
    """A one-connection TCP server replying with ``answer_for(request_bytes)``."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            (size,) = struct.unpack(">i", connection.recv(4))
            request = b""
            while len(request) < size:
                request += connection.recv(size - len(request))
            reply = answer_for(request)  # type: ignore[operator]
            if reply:
                connection.sendall(struct.pack(">i", len(reply)) + reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server, thread


def test_probe_talks_to_a_server_speaking_the_protocol() -> None:
    def answer(request: bytes) -> bytes:
        (correlation,) = struct.unpack_from(">i", request, 4)
        return metadata_answer(correlation, [(1, "127.0.0.1", 1234, None)])

    server, thread = _serve_once(answer)
    with server:
        address = f"127.0.0.1:{server.getsockname()[1]}"
        assert probe_metadata(address, timeout=5) == [(1, "127.0.0.1", 1234)]
    thread.join(5)


def test_a_server_that_hangs_up_or_a_closed_port_does_not_answer() -> None:
    server, thread = _serve_once(lambda request: b"")
    with server:
        assert not broker_answers(f"127.0.0.1:{server.getsockname()[1]}", timeout=2)
    thread.join(5)
    assert not broker_answers(f"127.0.0.1:{kafka_local.free_port()}", timeout=1)


def test_locations_follow_xdg_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "d"))
    assert kafka_local.kafka_home() == tmp_path / "c" / "csscore" / "kafka-3.9.1"
    assert kafka_local.default_data_dir() == tmp_path / "d" / "csscore" / "kafka"
    assert LocalBroker().data_dir == (tmp_path / "d" / "csscore" / "kafka").resolve()


def test_missing_tools_name_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(KafkaLocalError, match=r"java not found: install Java 17"):
        kafka_local.find_java()
    with pytest.raises(KafkaLocalError, match=r"mvn \(Maven\) not found: install Maven"):
        kafka_local.find_maven()


def _fake_mvn(directory: Path, script: str) -> None:
    mvn = directory / "mvn"
    mvn.write_text("#!/bin/sh\n" + script)
    mvn.chmod(mvn.stat().st_mode | stat.S_IXUSR)


def test_jars_are_fetched_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    # Fake Maven: records its call and "copies" one jar into -DoutputDirectory=...
    _fake_mvn(
        bin_dir,
        f'echo call >> "{calls}"\n'
        'for a in "$@"; do case "$a" in -DoutputDirectory=*) d="${a#-DoutputDirectory=}";;'
        ' esac; done\nmkdir -p "$d" && touch "$d/kafka_2.13-3.9.1.jar"\n',
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin:/bin")

    lib = kafka_local.ensure_kafka()
    assert (lib / "kafka_2.13-3.9.1.jar").exists()
    assert "Fetching Apache Kafka 3.9.1 from Maven Central (once)..." in capsys.readouterr().err
    pom = (kafka_local.kafka_home() / "pom.xml").read_text()
    assert "<artifactId>kafka_2.13</artifactId>" in pom and "slf4j-reload4j" in pom

    assert kafka_local.ensure_kafka() == lib
    assert capsys.readouterr().err == ""
    assert calls.read_text().count("call") == 1


def test_a_failed_fetch_is_one_error_and_is_retried(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _fake_mvn(tmp_path, 'echo "[ERROR] Could not resolve dependencies" >&2\nexit 1\n')
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}/usr/bin:/bin")
    for _ in range(2):  # no marker was written, so the second call tries again
        with pytest.raises(KafkaLocalError, match="Could not resolve dependencies"):
            kafka_local.ensure_kafka()
    assert not (kafka_local.kafka_home() / ".complete").exists()


def test_configuration_has_the_required_settings(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path)
    broker._write_configuration(BrokerPorts(port=9001, controller_port=9002))
    settings = dict(
        line.split("=", 1)
        for line in (tmp_path / "server.properties").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert settings["listeners"] == "PLAINTEXT://127.0.0.1:9001,CONTROLLER://127.0.0.1:9002"
    assert settings["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9001"
    assert settings["controller.quorum.voters"] == "1@127.0.0.1:9002"
    assert settings["message.max.bytes"] == "8388608"
    assert settings["group.initial.rebalance.delay.ms"] == "0"
    assert settings["offsets.topic.num.partitions"] == "4"
    assert "sasl.enabled.mechanisms" not in settings
    log4j = (tmp_path / "log4j.properties").read_text()
    assert f"File={tmp_path / 'logs' / 'server.log'}" in log4j


def test_sasl_listener_configuration_holds_no_password(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path)
    broker._write_configuration(BrokerPorts(9001, 9002, sasl_port=9003, sasl_user="alice"))
    broker._record_ports(BrokerPorts(9001, 9002, sasl_port=9003, sasl_user="alice"))
    text = (tmp_path / "server.properties").read_text()
    assert "SASL_PLAINTEXT://127.0.0.1:9003" in text
    assert "sasl.enabled.mechanisms=SCRAM-SHA-256" in text
    assert "password" not in text.lower()
    assert broker.status().sasl_bootstrap == "127.0.0.1:9003"


def test_ports_reuse_the_recorded_one_and_refuse_a_busy_one(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path)
    recorded = kafka_local.free_port()
    broker._record_ports(BrokerPorts(recorded, kafka_local.free_port()))
    chosen = broker._choose_ports(None, None)
    assert chosen.port == recorded
    assert len({chosen.port, chosen.controller_port}) == 2

    with socket.create_server(("127.0.0.1", 0)) as busy:
        busy_port = busy.getsockname()[1]
        with pytest.raises(KafkaLocalError, match=f"port {busy_port} on 127.0.0.1 is in use"):
            broker._choose_ports(busy_port, None)


def test_a_recycled_pid_is_not_taken_for_the_broker(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path)
    assert not broker.status().running
    # This test process is alive but is not kafka.Kafka on this data dir.
    (tmp_path / kafka_local.PID_FILE).write_text(f"{os.getpid()}\n")
    assert broker.running_pid() is None
    assert broker.stop(timeout=1) is False
    assert not (tmp_path / kafka_local.PID_FILE).exists()


def test_cli_sasl_user_without_password_is_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CSS_KAFKA_SASL_PASSWORD", raising=False)
    code = cli.main(["kafka", "start", "--data-dir", str(tmp_path), "--sasl-scram-user", "u"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CSS_KAFKA_SASL_PASSWORD" in err[0]


def test_cli_status_of_an_unused_data_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["kafka", "status", "--data-dir", str(tmp_path)]) == 3  # not running
    assert capsys.readouterr().out.startswith("stopped")
