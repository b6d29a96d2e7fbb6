"""Broker outage, SASL/SCRAM, listening sockets.

4. A private broker is SIGKILLed for 10 s mid-stream and restarted on the same data dir:
   the worker keeps running and resumes (final records equal the offline ones); a worker
   whose broker stays away exits non-zero with one clear line after
   ``CSS_BROKER_UNREACHABLE_SECONDS``.
7. A private broker with a SASL/SCRAM listener: the worker authenticates with credentials
   from its environment and scores; a wrong password exits non-zero with a clear message;
   a canary secret never appears in logs, ``--help`` or the command line.
8. By default nothing the worker listens on is bound to a wildcard address, Faust's web
   server (6066) is off and the metrics endpoint binds 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from streams.config import Settings
from streams.runtime.health import EXIT_BROKER_UNREACHABLE
from tests.kafka_helpers import BrokerHandle
from tests.reliability.scenario import Scenario, generated, report
from tests.worker_harness import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def _wait_exit(worker: WorkerProcess, timeout: float) -> int | None:
    assert worker.process is not None
    try:
        return worker.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


@pytest.mark.timeout(300)
def test_broker_killed_for_10_seconds_mid_stream(
    kafka_broker_factory: Callable[..., BrokerHandle], tmp_path: Path
) -> None:
    broker = kafka_broker_factory()
    lines, moment = generated(8, 14, seed=404, bad_rate=0.01, dup_rate=0.05)
    scenario = Scenario(broker.bootstrap, tmp_path, lines, moment, batch=5, name="outage")
    half = len(scenario.records) // 2

    async def run() -> dict[str, object]:
        await scenario.create_input()
        await scenario.produce(scenario.records[:half])
        worker = scenario.worker("a")
        worker.start()
        try:
            await scenario.wait_for_output_growth(worker, 0)
            assert broker.kill()
            down_since = time.monotonic()
            await asyncio.sleep(10)
            alive_during_outage = worker.alive()
            broker.restart()  # same data dir, same port
            outage = time.monotonic() - down_since
            await scenario.produce(scenario.records[half:])
            await scenario.settle()
            alive_after = worker.alive()
        finally:
            codes = scenario.stop_all()
        assert alive_during_outage and alive_after, scenario.logs()
        assert codes == [0], scenario.logs()
        figures, problems = await scenario.compare()
        assert not problems, "\n".join(problems)
        figures.update(broker_kills=1, outage_seconds=round(outage, 1))
        return figures

    figures = asyncio.run(run())
    report("broker killed 10 s", figures)
    assert figures["lost"] == 0 and figures["double_counted"] == 0


@pytest.mark.timeout(180)
def test_worker_exits_after_the_broker_stays_unreachable(
    kafka_broker_factory: Callable[..., BrokerHandle], tmp_path: Path
) -> None:
    broker = kafka_broker_factory()
    lines, moment = generated(2, 3, seed=41)
    scenario = Scenario(broker.bootstrap, tmp_path, lines, moment, name="gone")
    limit = 6

    async def run() -> tuple[int | None, float, WorkerProcess]:
        await scenario.create_input()
        await scenario.produce()
        worker = scenario.worker("a", {"CSS_BROKER_UNREACHABLE_SECONDS": str(limit)})
        worker.start()
        try:
            await scenario.wait_for_output_growth(worker, 0)
            killed = time.monotonic()  # before: kill() waits for the broker to die
            assert broker.kill()
            code = await asyncio.to_thread(_wait_exit, worker, 90)
            return code, time.monotonic() - killed, worker
        finally:
            scenario.stop_all()

    code, seconds, worker = asyncio.run(run())
    report("broker gone", {"limit_s": limit, "exit_code": code, "exit_after_s": round(seconds, 1)})
    assert code == EXIT_BROKER_UNREACHABLE, worker.log_text()[-3000:]
    # Counted from the first failed probe: never before the limit.
    assert seconds >= limit
    lines_said = [line for line in worker.log_text().splitlines() if "unreachable for" in line]
    assert len(lines_said) == 1 and "CSS_BROKER_UNREACHABLE_SECONDS" in lines_said[0]


def _sasl_env(password: str) -> dict[str, str]:
    return {
        "CSS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "CSS_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "CSS_KAFKA_SASL_USERNAME": "csscore",
        "CSS_KAFKA_SASL_PASSWORD": password,
    }


@pytest.mark.timeout(240)
def test_sasl_scram_worker_and_wrong_password(
    kafka_broker_factory: Callable[..., BrokerHandle], tmp_path: Path
) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    wrong = f"wrong-{uuid.uuid4().hex}"
    broker = kafka_broker_factory(sasl_scram_user="csscore", sasl_password=canary)
    assert broker.sasl_bootstrap is not None
    lines, moment = generated(3, 3, seed=77, bad_rate=0.02)
    scenario = Scenario(
        broker.bootstrap,  # the test's own clients use the plaintext listener
        tmp_path,
        lines,
        moment,
        name="sasl",
        worker_bootstrap=broker.sasl_bootstrap,
        worker_env=_sasl_env(canary),
    )

    async def run() -> tuple[dict[str, object], list[str], WorkerProcess, float]:
        await scenario.create_input()
        await scenario.produce()
        worker = scenario.worker("good")
        worker.start()
        try:
            assert worker.process is not None
            cmdline = Path(f"/proc/{worker.process.pid}/cmdline").read_bytes()
            assert canary.encode() not in cmdline
            await scenario.settle()
        finally:
            codes = scenario.stop_all()
        assert codes == [0], scenario.logs()
        figures, problems = await scenario.compare()
        bad = scenario.worker("bad", _sasl_env(wrong))
        started = time.monotonic()
        bad.start()
        code = await asyncio.to_thread(_wait_exit, bad, 45)
        waited = time.monotonic() - started
        if code is None:
            bad.kill()
        figures["wrong_password_exit"] = code
        return figures, problems, bad, waited

    figures, problems, bad, waited = asyncio.run(run())
    figures["wrong_password_exit_after_s"] = round(waited, 1)
    report("sasl/scram", figures)
    assert not problems, "\n".join(problems)
    assert figures["wrong_password_exit"] not in (None, 0), bad.log_text()[-2000:]
    assert "rejected the credentials" in bad.log_text()

    env = {**os.environ, **_sasl_env(canary), "KAFKA_BOOTSTRAP_SERVERS": broker.sasl_bootstrap}
    helps = [
        subprocess.run(
            [sys.executable, "-m", "streams.cli", *args],
            env=env,
            cwd=REPO,
            capture_output=True,
            timeout=60,
            check=True,
        )
        for args in (["--help"], ["worker", "--help"])
    ]
    outputs = [scenario.logs(tail=10**9).encode()] + [h.stdout + h.stderr for h in helps]
    for output in outputs:
        assert canary.encode() not in output
        assert wrong.encode() not in output


def _listening_sockets(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state owned by ``pid``."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for row in path.read_text().splitlines()[1:]:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A = LISTEN
                continue
            hex_addr, hex_port = local.split(":")
            raw = bytes.fromhex(hex_addr)
            # /proc prints the address as native-endian 32-bit words.
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.append((socket.inet_ntop(family, words), int(hex_port, 16)))
    return found


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.timeout(180)
def test_nothing_listens_on_a_wildcard_address_by_default(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    defaults = Settings()
    assert not defaults.web_enabled and defaults.web_bind == "127.0.0.1"
    assert defaults.metrics_addr.startswith("127.0.0.1:")
    default_port = defaults.metrics_host_port[1]
    # The default metrics address when its port is free here (another worker may hold it).
    use_default = _port_free(default_port)
    lines, moment = generated(2, 2, seed=88)
    scenario = Scenario(kafka_bootstrap, tmp_path, lines, moment, name="sockets")

    async def run() -> list[tuple[str, int]]:
        await scenario.create_input()
        await scenario.produce()
        worker = scenario.worker("a", {"CSS_METRICS_ADDR": ""} if use_default else {})
        worker.start()
        try:
            await scenario.wait_for_output_growth(worker, 0)
            assert worker.process is not None
            return _listening_sockets(worker.process.pid)
        finally:
            scenario.stop_all()

    listening = asyncio.run(run())
    report("sockets", {"listening": listening, "default_metrics_addr": use_default})
    assert listening, "the metrics endpoint should listen"
    assert all(address in ("127.0.0.1", "::1") for address, _ in listening), listening
    assert all(port != 6066 for _, port in listening), listening
    if use_default:
        assert ("127.0.0.1", default_port) in listening
