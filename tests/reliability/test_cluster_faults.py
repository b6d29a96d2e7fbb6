"""Broker faults on a local 3-node cluster, with the offline scorer as the oracle.

Every topic is created with replication factor 3 and ``min.insync.replicas`` 2 (the
defaults on three brokers), producers use ``acks=all``:

1. the node leading most input and changelog partitions is SIGKILLed mid-stream and
   restarted 30 s later;
2. a rolling restart of all three nodes, one at a time, while input is still produced;
3. two workers, one SIGKILLed while a node is down.

Each ends like the other reliability tests (every partition ticked to the offline
watermark, final records and alerts compared with ``csscore score``: lost = 0, double
counted = 0) and reports how long scoring stalled: the longest time the output topic did
not grow between the fault and the end of the input.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from devtools.kafka_local import LocalCluster, broker_answers
from streams.config import KafkaSecurity, settings_from_env
from streams.runtime.topics import Replication, TopicLayout, ensure_topics
from tests.kafka_helpers import unique_topic
from tests.reliability.scenario import FAST_GROUP_ENV, Scenario, generated, report
from tests.worker_harness import wait_caught_up

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.slow]

SEED = 20261206
RESTART_AFTER_S = 30.0


def _assert_equal(figures: dict[str, object], problems: list[str], logs: str) -> None:
    assert figures["lost"] == 0, "\n".join(problems)
    assert figures["double_counted"] == 0, "\n".join(problems)
    assert not problems, "\n".join(problems) + "\n" + logs


async def leaders(bootstrap: str, topics: list[str]) -> collections.Counter[int]:
    """How many partitions of ``topics`` each node leads."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    counts: collections.Counter[int] = collections.Counter()
    for topic in described:
        for partition in topic.get("partitions") or []:
            counts[int(partition["leader"])] += 1
    return counts


async def replication_of(bootstrap: str, topics: list[str]) -> dict[str, tuple[int, int]]:
    """Per topic: (fewest replicas of a partition, fewest in-sync replicas); a topic whose
    partitions the metadata does not show yet (just created) is left out."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return {
        topic["topic"]: (
            min(len(p["replicas"]) for p in topic["partitions"]),
            min(len(p["isr"]) for p in topic["partitions"]),
        )
        for topic in described
        if topic.get("partitions")
    }


async def wait_fully_replicated(bootstrap: str, topics: list[str], timeout: float = 120.0) -> float:
    """Wait until every partition of ``topics`` has all its replicas in sync; seconds."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        try:
            states = await replication_of(bootstrap, topics)
        except Exception:  # a node restarting: metadata may be partial for a moment
            states = {}
        if len(states) == len(topics) and all(r == isr for r, isr in states.values()):
            return time.monotonic() - began
        await asyncio.sleep(0.5)
    raise AssertionError(f"not fully replicated within {timeout} s: {states}")


class StallMeter:
    """Samples the output topic's size; ``longest_stall`` is the longest time it did not
    grow inside a window (while the input was not all scored yet)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.samples: list[tuple[float, int]] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(Exception):  # a node down: the next sample will do
                self.samples.append((time.monotonic(), await self.scenario.output_count()))
            await asyncio.sleep(0.25)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _growths(self) -> list[float]:
        growths: list[float] = []
        previous = None
        for at, count in self.samples:
            if previous is not None and count > previous:
                growths.append(at)
            previous = count
        return growths

    def longest_stall(self, since: float, caught_up: float) -> float:
        """Longest interval between two growths of the output from ``since`` up to its last
        growth before ``caught_up`` (the idle time after the input is scored excluded)."""
        points = [since, *(at for at in self._growths() if since <= at <= caught_up)]
        gaps = [b - a for a, b in itertools.pairwise(points)]
        return round(max(gaps), 1) if gaps else 0.0


def cluster_scenario(
    cluster: LocalCluster, tmp_path: Path, orgs: int, seed: int, name: str, batch: int = 5
) -> Scenario:
    lines, moment = generated(orgs, 14, seed=seed, bad_rate=0.01, dup_rate=0.05)
    return Scenario(
        cluster.bootstrap, tmp_path, lines, moment, batch=batch, name=name,
        worker_env=FAST_GROUP_ENV,
    )  # fmt: skip


def topics_of(scenario: Scenario) -> list[str]:
    changelogs = [f"{scenario.app_id}-{t}-changelog" for t in ("orgs", "clocks")]
    return [scenario.input_topic, scenario.output_topic, f"{scenario.app_id}-events", *changelogs]


async def produce_in_chunks(scenario: Scenario, chunks: int, pause: float) -> None:
    """The input, in ``chunks`` parts ``pause`` s apart (load during the faults)."""
    records = scenario.records
    size = -(-len(records) // chunks)
    for start in range(0, len(records), size):
        await scenario.produce(records[start : start + size])
        await asyncio.sleep(pause)


async def run_with_fault(
    scenario: Scenario,
    workers: int,
    fault: Callable[[], Awaitable[dict[str, Any]]],
    chunks: int = 1,
    pause: float = 0.0,
) -> tuple[dict[str, Any], list[str]]:
    """Produce (all at once, or in chunks as load), start ``workers`` workers, run
    ``fault`` once the output grows, settle, compare; figures include the stall."""
    await scenario.create_input()
    started = [scenario.worker(label) for label in "ab"[:workers]]
    meter = StallMeter(scenario)
    feeding = asyncio.ensure_future(produce_in_chunks(scenario, chunks, pause))
    try:
        for worker in started:
            worker.start()
        await scenario.wait_for_output_growth(started[0], 0, timeout=180)
        meter.start()
        fault_began = time.monotonic()
        details = await fault()
        await feeding
        await wait_caught_up(
            scenario.bootstrap, scenario.app_id, scenario.sources, scenario.output_topic,
            timeout=420,
        )  # fmt: skip
        caught_up = time.monotonic()
        await scenario.settle(timeout=420)
    finally:
        feeding.cancel()
        await meter.stop()
        codes = scenario.stop_all()
    figures, problems = await scenario.compare()
    figures.update(details)
    figures["stall_s"] = meter.longest_stall(fault_began, caught_up)
    figures["exit_codes"] = codes
    return figures, problems


@pytest.mark.timeout(900)
def test_sigkill_of_the_busiest_leader_restarted_30s_later(
    kafka_cluster: LocalCluster, tmp_path: Path
) -> None:
    scenario = cluster_scenario(kafka_cluster, tmp_path, 30, SEED, "leaderkill")

    async def kill_the_busiest_leader() -> dict[str, Any]:
        await asyncio.sleep(1.0)  # mid-stream
        led = await leaders(kafka_cluster.bootstrap, topics_of(scenario))
        node, partitions = led.most_common(1)[0]
        assert kafka_cluster.kill(node)
        assert scenario.workers[0].alive()
        await asyncio.sleep(RESTART_AFTER_S)
        kafka_cluster.start(node=node)
        catch_up = await wait_fully_replicated(kafka_cluster.bootstrap, topics_of(scenario))
        return {"killed_node": node, "partitions_it_led": partitions,
                "back_in_sync_s": round(catch_up, 1)}  # fmt: skip

    figures, problems = asyncio.run(run_with_fault(scenario, 1, kill_the_busiest_leader))
    report("cluster: busiest leader SIGKILLed, back after 30 s", figures)
    assert figures["exit_codes"] == [0], scenario.logs()
    replication = asyncio.run(replication_of(kafka_cluster.bootstrap, topics_of(scenario)))
    assert all(replicas == 3 for replicas, _ in replication.values()), replication
    _assert_equal(figures, problems, scenario.logs())


@pytest.mark.timeout(900)
def test_rolling_restart_of_every_node_under_load(
    kafka_cluster: LocalCluster, tmp_path: Path
) -> None:
    scenario = cluster_scenario(kafka_cluster, tmp_path, 30, SEED + 1, "rolling")

    async def rolling_restart() -> dict[str, Any]:
        downtimes = []
        for node in range(1, kafka_cluster.size + 1):
            began = time.monotonic()
            assert kafka_cluster.stop(node=node) == [node]
            assert not broker_answers(kafka_cluster.node(node).bootstrap or "", timeout=1.0)
            await asyncio.sleep(3.0)
            kafka_cluster.start(node=node)
            await wait_fully_replicated(kafka_cluster.bootstrap, topics_of(scenario))
            downtimes.append(round(time.monotonic() - began, 1))
        return {"restarted_nodes": kafka_cluster.size, "node_cycle_s": downtimes}

    # The input keeps coming while the nodes restart: in 8 parts, 4 s apart.
    figures, problems = asyncio.run(
        run_with_fault(scenario, 1, rolling_restart, chunks=8, pause=4.0)
    )
    report("cluster: rolling restart under load", figures)
    assert figures["exit_codes"] == [0], scenario.logs()
    _assert_equal(figures, problems, scenario.logs())


@pytest.mark.timeout(900)
def test_two_workers_one_sigkilled_while_a_node_is_down(
    kafka_cluster: LocalCluster, tmp_path: Path
) -> None:
    scenario = cluster_scenario(kafka_cluster, tmp_path, 24, SEED + 2, "nodedown")

    async def node_down_then_worker_killed() -> dict[str, Any]:
        await asyncio.sleep(1.0)
        node = kafka_cluster.size  # any node: the last
        assert kafka_cluster.kill(node)
        await asyncio.sleep(2.0)
        first, second = scenario.workers
        first.kill()  # SIGKILL while the node is down: the survivor takes over
        scenario.kills += 1
        assert second.alive(), second.log_text()[-3000:]
        await asyncio.sleep(RESTART_AFTER_S / 2)
        kafka_cluster.start(node=node)
        await wait_fully_replicated(kafka_cluster.bootstrap, topics_of(scenario))
        return {"killed_node": node, "killed_worker": first.log_path.name}

    figures, problems = asyncio.run(run_with_fault(scenario, 2, node_down_then_worker_killed))
    report("cluster: two workers, one SIGKILLed while a node is down", figures)
    assert figures["exit_codes"][1] == 0, scenario.logs()
    _assert_equal(figures, problems, scenario.logs())


@pytest.mark.timeout(300)
def test_the_cli_reports_every_node_and_restarts_one(kafka_cluster: LocalCluster) -> None:
    """`csscore kafka status|stop --node|start --node` on the session's cluster."""
    cli = [sys.executable, "-m", "streams.cli", "kafka"]
    where = ["--data-dir", str(kafka_cluster.data_dir)]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*cli, *args, *where], capture_output=True, text=True, timeout=180)

    status = run("status")
    assert status.returncode == 0, status.stdout + status.stderr
    lines = status.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == ["node 1", "node 2", "node 3"]
    assert lines[-1] == kafka_cluster.bootstrap and len(lines[-1].split(",")) == 3
    stopped = run("stop", "--node", "2")
    assert stopped.returncode == 0 and "stopped node(s) 2" in stopped.stdout, stopped.stderr
    down = run("status")
    assert down.returncode == 3 and "node 2: stopped" in down.stdout
    assert broker_answers(kafka_cluster.bootstrap.split(",")[0])  # the others still serve
    started = run("start", "--node", "2")
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip().splitlines()[-1] == kafka_cluster.bootstrap
    assert run("status").returncode == 0


@pytest.mark.timeout(300)
class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_worker_topics_get_three_replicas_and_a_lower_one_is_warned_about(
    kafka_cluster: LocalCluster,
) -> None:
    """`ensure_topics` on three brokers: every topic it creates has 3 replicas and
    min.insync.replicas 2; an input topic made beforehand with 1 replica gets one WARNING."""
    app_id = unique_topic("repl")
    settings = settings_from_env({
        "KAFKA_BOOTSTRAP_SERVERS": kafka_cluster.bootstrap, "CSS_APP_ID": app_id,
        "CSS_INPUT_TOPIC": f"{app_id}-in", "CSS_OUTPUT_TOPIC": f"{app_id}-out",
        "CSS_ALERTS_TOPIC": f"{app_id}-alerts", "CSS_DLQ_TOPIC": f"{app_id}-dlq",
    })  # fmt: skip

    async def run() -> tuple[TopicLayout, dict[str, tuple[int, int]], dict[str, str]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_cluster.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(settings.input_topic, 2, 1)])
        finally:
            await admin.close()
        while not await replication_of(kafka_cluster.bootstrap, [settings.input_topic]):
            await asyncio.sleep(0.2)  # until the metadata shows it
        # Its own handler: an earlier test in this process may have reconfigured logging
        # (Faust's set-up disables existing loggers), which caplog would not see.
        topics_log = logging.getLogger("csscore.topics")
        topics_log.disabled = False
        topics_log.addHandler(kept)
        try:
            layout = await ensure_topics(settings, KafkaSecurity.from_env({}))
        finally:
            topics_log.removeHandler(kept)
        created = [settings.output_topic, settings.alerts_topic, settings.dlq_topic,
                   settings.events_topic, settings.control_topic, f"{app_id}-orgs-changelog"]
        deadline = time.monotonic() + 30  # creation is asynchronous in the brokers
        replication = await replication_of(kafka_cluster.bootstrap, created)
        while len(replication) < len(created) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            replication = await replication_of(kafka_cluster.bootstrap, created)
        return layout, replication, await min_insync_of(kafka_cluster.bootstrap, created)

    kept = _Kept()
    layout, replication, insync = asyncio.run(run())
    assert layout.replication == Replication(3, 2)
    assert len(replication) == 6, replication
    assert all(replicas == 3 for replicas, _ in replication.values()), replication
    assert set(insync.values()) == {"2"}, insync
    warnings = [r.getMessage() for r in kept.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and settings.input_topic in warnings[0], warnings
    assert "replication factor 1, below the configured 3" in warnings[0]


async def min_insync_of(bootstrap: str, topics: list[str]) -> dict[str, str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        wanted = {"min.insync.replicas": None}
        resources = [ConfigResource(ConfigResourceType.TOPIC, t, wanted) for t in topics]
        answers = await admin.describe_configs(resources)
    finally:
        await admin.close()
    found: dict[str, str] = {}
    for answer in answers:
        for _code, _message, _type, name, entries in answer.resources:
            for entry in entries:
                if entry[0] == "min.insync.replicas":
                    found[name] = entry[1]
    return found
