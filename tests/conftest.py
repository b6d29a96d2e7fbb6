"""Shared fixtures: one real Kafka broker per session, private brokers for fault tests.

``kafka_bootstrap`` comes from, in order: ``KAFKA_BOOTSTRAP_SERVERS`` when it answers;
Testcontainers' Kafka module when a Docker engine answers a ping; the embedded Apache
Kafka broker (``devtools.kafka_local``) in a temporary data dir. Under ``CI=true`` a
missing broker fails the run, it never skips. Tests share the session broker with unique
topic names (``unique_topic``); tests that kill or restart a broker use
``kafka_broker_factory``. ``kafka_cluster`` is one local 3-node KRaft cluster shared by
the cluster fault tests of a session (always the embedded one: their faults stop and
kill its nodes).
"""

from __future__ import annotations

import collections
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# `from tests.kafka_helpers import ...` must work under --import-mode=importlib, which
# does not put the repository root on sys.path by itself.
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from devtools.kafka_local import (  # noqa: E402
    KafkaLocalError,
    LocalBroker,
    LocalCluster,
    broker_answers,
)
from tests.kafka_helpers import BrokerHandle  # noqa: E402
from tests.kafka_helpers import unique_topic as _unique_topic  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# For the terminal summary: where the session broker came from, and how the tests marked
# `integration` ended, so `make test` output shows they ran against a real broker.
_BROKER_SOURCE: list[str] = []
_INTEGRATION_OUTCOMES: collections.Counter[str] = collections.Counter()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "integration" not in report.keywords:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _INTEGRATION_OUTCOMES[report.outcome] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _BROKER_SOURCE:
        terminalreporter.write_line(f"kafka_bootstrap: {_BROKER_SOURCE[0]}")
    if _INTEGRATION_OUTCOMES:
        counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(_INTEGRATION_OUTCOMES.items()))
        terminalreporter.write_line(f"integration tests (real broker): {counts}")


def _no_broker(reason: str) -> None:
    """Fail under CI (a skipped integration suite would hide a broken harness), else skip."""
    if IN_CI:
        pytest.fail(f"no Kafka broker under CI=true: {reason}", pytrace=False)
    pytest.skip(f"no Kafka broker: {reason}")


def _from_environment() -> str | None:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if not configured:
        return None
    if any(broker_answers(address.strip()) for address in configured.split(",")):
        return configured
    print(f"KAFKA_BOOTSTRAP_SERVERS={configured} does not answer; trying others", file=sys.stderr)
    return None


def _docker_engine_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        return bool(docker.from_env().ping())
    except Exception:  # no engine, no socket, no permission: all mean "no Docker"
        return False


def _start_container() -> Any:
    try:
        from testcontainers.community.kafka import KafkaContainer
    except ImportError:  # older testcontainers layout
        from testcontainers.kafka import KafkaContainer
    # The module drives the Confluent image's own start scripts, so an apache/kafka image
    # does not work with it: keep its default image, in KRaft mode.
    container = KafkaContainer().with_kraft()
    container.start()
    return container


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A reachable Kafka bootstrap address for the whole session."""
    configured = _from_environment()
    if configured is not None:
        _BROKER_SOURCE.append(f"KAFKA_BOOTSTRAP_SERVERS={configured}")
        yield configured
        return

    if _docker_engine_answers():
        try:
            container = _start_container()
        except Exception as exc:
            print(
                f"Testcontainers Kafka failed ({exc}); using the embedded broker", file=sys.stderr
            )
        else:
            address = str(container.get_bootstrap_server())
            _BROKER_SOURCE.append(f"Testcontainers Kafka at {address}")
            try:
                yield address
            finally:
                container.stop()
            return

    broker = LocalBroker(tmp_path_factory.mktemp("kafka-session"))
    try:
        bootstrap = broker.start()
    except KafkaLocalError as exc:
        _no_broker(str(exc))
        return
    _BROKER_SOURCE.append(f"embedded Apache Kafka 3.9.1 at {bootstrap} ({broker.data_dir})")
    try:
        yield bootstrap
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A local 3-node cluster for the session (``.bootstrap``: the three addresses)."""
    cluster = LocalCluster(tmp_path_factory.mktemp("kafka-cluster"), 3)
    try:
        cluster.start()
    except KafkaLocalError as exc:
        _no_broker(str(exc))
    try:
        yield cluster
    finally:
        cluster.stop(timeout=20)


@pytest.fixture
def kafka_broker_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., BrokerHandle]]:
    """Start private brokers (for kill/restart tests); all are stopped at teardown.

    ``factory(port=None, sasl_scram_user=None, sasl_password=None, data_dir=None)``
    returns a started ``BrokerHandle`` (``.bootstrap``, ``.kill()``, ``.restart()``,
    ``.stop()``, ``.data_dir``).
    """
    started: list[BrokerHandle] = []

    def factory(
        port: int | None = None,
        sasl_scram_user: str | None = None,
        sasl_password: str | None = None,
        data_dir: Path | None = None,
    ) -> BrokerHandle:
        handle = BrokerHandle(
            data_dir=data_dir or tmp_path_factory.mktemp("kafka-private"),
            port=port,
            sasl_scram_user=sasl_scram_user,
            sasl_password=sasl_password,
        )
        started.append(handle)
        try:
            handle.start()
        except KafkaLocalError as exc:
            _no_broker(str(exc))
        return handle

    yield factory
    for handle in started:
        handle.stop(timeout=15)


@pytest.fixture
def unique_topic() -> Callable[[str], str]:
    """``unique_topic(prefix)`` -> a fresh topic name (uuid suffix)."""
    return _unique_topic


def new_id() -> str:
    """A short random id for names other than topics (groups, app ids)."""
    return uuid.uuid4().hex[:12]
