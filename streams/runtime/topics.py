"""Topic set-up at worker start: the input topic's partition count wins; the control topic
is created co-partitioned with it; the output and alerts topics keep every record (no
compaction: monthly history needs all of them) for ``CSS_OUTPUT_RETENTION_DAYS``."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from streams.config import KafkaSecurity, Settings
from streams.errors import BrokerUnreachable, CssError
from streams.runtime.faust_app import TABLES

log = logging.getLogger("csscore.topics")


INTERNAL_RETENTION_MS = 7 * 86_400_000  # unprocessed internal records wait this long


async def topic_partitions(admin: AIOKafkaAdminClient, topic: str) -> int | None:
    # Describe only existing topics: a metadata request for a missing topic may create it
    # with the broker's default partition count when auto-creation is on.
    if topic not in set(await admin.list_topics()):
        return None
    described = await admin.describe_topics([topic])
    for entry in described:
        if entry.get("topic") == topic and entry.get("error_code", 0) == 0:
            partitions = entry.get("partitions") or []
            return len(partitions) or None
    return None


async def _create(admin: AIOKafkaAdminClient, topic: NewTopic) -> None:
    try:
        await admin.create_topics([topic])
        log.info("created topic %s with %d partitions", topic.name, topic.num_partitions)
    except TopicAlreadyExistsError:
        pass


async def create_topic(
    bootstrap: str,
    name: str,
    partitions: int,
    *,
    security: KafkaSecurity | None = None,
    configs: dict[str, str] | None = None,
    wait_seconds: float = 30.0,
) -> None:
    """Create ``name`` unless it exists, then wait until a client's metadata shows every
    partition (creation is asynchronous in the broker). For tools and tests; the worker
    creates its own topics with ``ensure_topics``."""
    kwargs = (security or KafkaSecurity()).aiokafka_kwargs()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kwargs)
    await admin.start()
    try:
        if await topic_partitions(admin, name) is None:
            await _create(admin, NewTopic(name, partitions, 1, topic_configs=configs or {}))
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **kwargs)
    await consumer.start()
    try:
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            await consumer._client.force_metadata_update()
            found = consumer.partitions_for_topic(name)
            if found is not None and len(found) >= partitions:
                return
            await asyncio.sleep(0.1)
        raise CssError(f"topic {name} did not show {partitions} partitions in {wait_seconds} s")
    finally:
        await consumer.stop()


def _history_topic(name: str, partitions: int, configs: dict[str, str]) -> NewTopic:
    return NewTopic(name, partitions, 1, topic_configs=configs)


@dataclass(frozen=True, slots=True)
class TopicLayout:
    partitions: int  # of the input topic (the internal topics and tables follow it)
    output_partitions: int


async def ensure_topics(settings: Settings, security: KafkaSecurity) -> TopicLayout:
    """Create what is missing; return the input and output topics' partition counts."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        request_timeout_ms=30_000,
        **security.aiokafka_kwargs(),
    )
    try:
        await admin.start()
    except KafkaConnectionError as exc:
        raise BrokerUnreachable(
            f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}; "
            "check KAFKA_BOOTSTRAP_SERVERS and the security settings"
        ) from None
    try:
        partitions = await topic_partitions(admin, settings.input_topic)
        if partitions is None:
            await _create(admin, NewTopic(settings.input_topic, settings.partitions, 1))
            partitions = settings.partitions
        for internal in (settings.events_topic, settings.control_topic):
            count = await topic_partitions(admin, internal)
            if count is None:
                configs = {"retention.ms": str(INTERNAL_RETENTION_MS)}
                await _create(admin, NewTopic(internal, partitions, 1, topic_configs=configs))
            elif count != partitions:
                raise CssError(
                    f"internal topic {internal} has {count} partitions but the input topic "
                    f"has {partitions}; use a new CSS_APP_ID"
                )
        retention_ms = settings.output_retention_days * 86_400_000
        history = {"cleanup.policy": "delete", "retention.ms": str(retention_ms)}
        output_partitions = await topic_partitions(admin, settings.output_topic)
        if output_partitions is None:
            output_partitions = partitions
            await _create(admin, _history_topic(settings.output_topic, partitions, history))
        if await topic_partitions(admin, settings.alerts_topic) is None:
            await _create(admin, _history_topic(settings.alerts_topic, partitions, history))
        for table in TABLES:
            # Created here, before Faust starts: a changelog Faust creates itself may be
            # missing from its metadata cache at the first write ("0 partitions").
            changelog = f"{settings.app_id}-{table}-changelog"
            if await topic_partitions(admin, changelog) is None:
                configs = {"cleanup.policy": "compact"}
                await _create(admin, NewTopic(changelog, partitions, 1, topic_configs=configs))
        if await topic_partitions(admin, settings.dlq_topic) is None:
            await _create(admin, NewTopic(settings.dlq_topic, partitions, 1))
        return TopicLayout(partitions, output_partitions)
    finally:
        await admin.close()
