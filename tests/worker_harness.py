"""Running real ``csscore worker`` processes in tests, and waiting on facts, not sleeps.

``WorkerProcess`` starts the worker as a subprocess with its own settings (environment),
logs to a file, and can be stopped (SIGTERM) or killed (SIGKILL). ``wait_caught_up``
waits until the consumer group has committed every input and control offset and the
output topic's end offsets have stopped moving.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from devtools.procs import WorkerProcess as WorkerProcess  # re-exported for tests
from tests.kafka_helpers import consume_all, end_offsets


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


async def _group_lag(bootstrap: str, group: str, topics: list[str]) -> dict[str, str]:
    """``{"topic[p]": "committed/end"}`` for every partition ``group`` has not committed
    to its end (a topic not created yet shows as ``"topic": "missing"``)."""
    ends: dict[tuple[str, int], int] = {}
    behind: dict[str, str] = {}
    for topic in topics:
        topic_ends = await end_offsets(bootstrap, topic)
        if not topic_ends:
            behind[topic] = "missing"  # not created yet: the worker has not started
        for partition, end in topic_ends.items():
            ends[(topic, partition)] = end
    committed = await committed_offsets(bootstrap, group, topics)
    for (topic, partition), end in ends.items():
        done = committed.get(TopicPartition(topic, partition), -1)
        if end > 0 and done < end:
            behind[f"{topic}[{partition}]"] = f"{done}/{end}"
    return behind


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
    behind: dict[str, str] = {}
    while time.monotonic() < deadline:
        if worker is not None and not worker.alive():
            raise AssertionError(f"worker exited early:\n{worker.log_text()[-3000:]}")
        behind = await _group_lag(bootstrap, f"{group}-ingest", topics)
        behind |= await _group_lag(bootstrap, group, internal)
        output = await end_offsets(bootstrap, output_topic)
        if output != last_output:
            last_output = output
            quiet_since = time.monotonic()
        if not behind and time.monotonic() - quiet_since >= quiet_seconds:
            return time.monotonic() - started
        await asyncio.sleep(0.5)
    raise AssertionError(
        f"not caught up within {timeout} s (group {group}); committed/end behind: {behind}"
    )


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
