"""Running real ``csscore worker`` processes in tests, and waiting on facts, not sleeps.

``WorkerProcess`` starts the worker as a subprocess with its own settings (environment),
logs to a file, and can be stopped (SIGTERM) or killed (SIGKILL). ``wait_caught_up``
waits until the consumer group has committed every input and control offset and the
output topic's end offsets have stopped moving.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from tests.kafka_helpers import consume_all, end_offsets


@dataclass
class WorkerProcess:
    """One ``csscore worker`` subprocess."""

    bootstrap: str
    app_id: str
    input_topic: str
    output_topic: str
    dlq_topic: str
    data_dir: Path
    log_path: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("CSS_") and key != "KAFKA_BOOTSTRAP_SERVERS"
        }
        env.update(
            {
                "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "CSS_APP_ID": self.app_id,
                "CSS_INPUT_TOPIC": self.input_topic,
                "CSS_OUTPUT_TOPIC": self.output_topic,
                "CSS_DLQ_TOPIC": self.dlq_topic,
                "CSS_DATA_DIR": str(self.data_dir),
                "CSS_METRICS_ADDR": "127.0.0.1:0",
                "CSS_LIVE_EMIT_INTERVAL_SECONDS": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"\n===== start {self.starts} =====\n".encode())
        log.flush()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parent.parent,
        )
        log.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no offset commit."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM and wait (SIGKILL after ``timeout``); returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        return self.process.returncode

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def metrics_port(self) -> int | None:
        """The metrics port the last start logged (CSS_METRICS_ADDR port 0)."""
        port = None
        for line in self.log_text().splitlines():
            if "metrics on http://" in line:
                port = int(line.rsplit(":", 1)[1].split("/", 1)[0])
        return port


async def committed_offsets(bootstrap: str, group: str, topics: Iterable[str]) -> dict[Any, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    except KafkaError:  # e.g. the group coordinator is not there yet on a fresh broker
        return {}
    finally:
        await admin.close()
    wanted = set(topics)
    return {tp: meta.offset for tp, meta in offsets.items() if tp.topic in wanted}


async def _group_caught_up(bootstrap: str, group: str, topics: list[str]) -> bool:
    ends: dict[tuple[str, int], int] = {}
    for topic in topics:
        topic_ends = await end_offsets(bootstrap, topic)
        if not topic_ends:
            return False  # not created yet: the worker has not started
        for partition, end in topic_ends.items():
            ends[(topic, partition)] = end
    committed = await committed_offsets(bootstrap, group, topics)
    return all(
        committed.get(TopicPartition(topic, partition), -1) >= end
        for (topic, partition), end in ends.items()
        if end > 0
    )


async def wait_caught_up(
    bootstrap: str,
    group: str,
    source_topics: Iterable[str],
    output_topic: str,
    *,
    timeout: float = 300.0,
    quiet_seconds: float = 4.0,
    worker: WorkerProcess | None = None,
) -> float:
    """Wait until ``group`` has committed every source offset and the output end offsets
    have not moved for ``quiet_seconds``; returns the seconds waited."""
    # The worker reads the input with its ingest stage (group "{app_id}-ingest") and its
    # Faust agent reads the internal topics (group app_id): every one must be caught up.
    topics = [t for t in source_topics if t != f"{group}-control"]
    internal = [f"{group}-events", f"{group}-control"]
    started = time.monotonic()
    deadline = started + timeout
    last_output: dict[int, int] | None = None
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        if worker is not None and not worker.alive():
            raise AssertionError(f"worker exited early:\n{worker.log_text()[-3000:]}")
        caught_up = await _group_caught_up(bootstrap, f"{group}-ingest", topics)
        caught_up = caught_up and await _group_caught_up(bootstrap, group, internal)
        output = await end_offsets(bootstrap, output_topic)
        if output != last_output:
            last_output = output
            quiet_since = time.monotonic()
        if caught_up and time.monotonic() - quiet_since >= quiet_seconds:
            return time.monotonic() - started
        await asyncio.sleep(0.5)
    raise AssertionError(f"not caught up within {timeout} s (group {group})")


async def output_records(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every score record of ``topic``, in per-partition order."""
    records = await consume_all(bootstrap, topic, timeout=30.0)
    return [orjson.loads(record.value) for record in records if record.value]


async def topic_partition_count(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        return len(partitions)
    finally:
        await consumer.stop()
