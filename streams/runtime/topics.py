"""Topic set-up at worker start: the input topic's partition count wins; the control topic
is created co-partitioned with it; the output and alerts topics keep every record (no
compaction: monthly history needs all of them) for ``CSS_OUTPUT_RETENTION_DAYS``.

Every topic the project creates (here and through :func:`create_topic`, which the tools,
the bench and the tests use) gets the replication of :func:`resolve_replication`:
``CSS_REPLICATION_FACTOR`` (default 3, or the broker count when fewer) and
``min.insync.replicas`` = ``CSS_MIN_INSYNC_REPLICAS`` (default factor - 1, at least 1).
With ``acks=all`` a write is acknowledged once that many replicas hold it, so one broker
of three can fail without losing an acknowledged record or stopping writes."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from streams.config import KafkaSecurity, Settings, replication_from_env
from streams.errors import BrokerUnreachable, CssError
from streams.runtime.clients import started
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


@dataclass(frozen=True, slots=True)
class Replication:
    """How every created topic is replicated."""

    factor: int = 1
    min_insync: int = 1

    def configs(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"min.insync.replicas": str(self.min_insync), **(extra or {})}

    def new_topic(
        self, name: str, partitions: int, extra: dict[str, str] | None = None
    ) -> NewTopic:
        return NewTopic(name, partitions, self.factor, topic_configs=self.configs(extra))


async def resolve_replication(
    admin: AIOKafkaAdminClient, factor: int | None, min_insync: int | None
) -> Replication:
    """The configured replication, defaults filled from the cluster's broker count; a
    factor above the broker count is one clear error."""
    brokers = len((await admin.describe_cluster()).get("brokers") or []) or 1
    chosen = factor if factor is not None else min(3, brokers)
    if chosen > brokers:
        raise CssError(
            f"CSS_REPLICATION_FACTOR={chosen} but the cluster has {brokers} broker(s);"
            " lower it or add brokers"
        )
    insync = min_insync if min_insync is not None else max(1, chosen - 1)
    if insync > chosen:
        raise CssError(
            f"CSS_MIN_INSYNC_REPLICAS={insync} is above the replication factor {chosen}:"
            " no write could ever be acknowledged"
        )
    return Replication(chosen, insync)


async def warn_if_under_replicated(
    admin: AIOKafkaAdminClient, topics: list[str], replication: Replication
) -> list[str]:
    """Log one WARNING per existing topic with fewer replicas than configured; the names."""
    existing = set(await admin.list_topics())
    low: list[str] = []
    for entry in await admin.describe_topics([t for t in topics if t in existing]):
        partitions = entry.get("partitions") or []
        replicas = min((len(p.get("replicas") or []) for p in partitions), default=0)
        if partitions and replicas < replication.factor:
            low.append(entry["topic"])
            log.warning(
                "topic %s has replication factor %d, below the configured %d: a broker loss"
                " can take its partitions offline; raise it with kafka-reassign-partitions",
                entry["topic"],
                replicas,
                replication.factor,
            )
    return low


async def _create(admin: AIOKafkaAdminClient, topic: NewTopic) -> None:
    try:
        await admin.create_topics([topic])
        log.info(
            "created topic %s with %d partitions, replication factor %d",
            topic.name,
            topic.num_partitions,
            topic.replication_factor,
        )
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
    """Create ``name`` unless it exists (replicated as the environment's
    ``CSS_REPLICATION_FACTOR`` / ``CSS_MIN_INSYNC_REPLICAS`` say), then wait until a
    client's metadata shows every partition (creation is asynchronous in the broker). For
    tools and tests; the worker creates its own topics with ``ensure_topics``."""
    kwargs = (security or KafkaSecurity()).aiokafka_kwargs()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kwargs)
    await admin.start()
    try:
        if await topic_partitions(admin, name) is None:
            replication = await resolve_replication(admin, *replication_from_env())
            await _create(admin, replication.new_topic(name, partitions, configs))
    finally:
        await admin.close()
    consumer = await started(AIOKafkaConsumer(bootstrap_servers=bootstrap, **kwargs))
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


@dataclass(frozen=True, slots=True)
class TopicLayout:
    partitions: int  # of the input topic (the internal topics and tables follow it)
    output_partitions: int
    replication: Replication = Replication()
    alerts_partitions: int = 0


async def ensure_topics(settings: Settings, security: KafkaSecurity) -> TopicLayout:
    """Create what is missing; return the input and output topics' partition counts and
    the replication (warned about: existing topics with fewer replicas)."""
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
        replication = await resolve_replication(
            admin, settings.replication_factor, settings.min_insync_replicas
        )
        changelogs = [f"{settings.app_id}-{table}-changelog" for table in TABLES]
        own = [settings.input_topic, settings.events_topic, settings.control_topic]
        own += [settings.output_topic, settings.alerts_topic, settings.dlq_topic, *changelogs]
        await warn_if_under_replicated(admin, own, replication)
        partitions = await topic_partitions(admin, settings.input_topic)
        if partitions is None:
            await _create(admin, replication.new_topic(settings.input_topic, settings.partitions))
            partitions = settings.partitions
        for internal in (settings.events_topic, settings.control_topic):
            count = await topic_partitions(admin, internal)
            if count is None:
                configs = {"retention.ms": str(INTERNAL_RETENTION_MS)}
                await _create(admin, replication.new_topic(internal, partitions, configs))
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
            await _create(admin, replication.new_topic(settings.output_topic, partitions, history))
        alerts_partitions = await topic_partitions(admin, settings.alerts_topic)
        if alerts_partitions is None:
            alerts_partitions = partitions
            await _create(admin, replication.new_topic(settings.alerts_topic, partitions, history))
        for changelog in changelogs:
            # Created here, before Faust starts: a changelog Faust creates itself may be
            # missing from its metadata cache at the first write ("0 partitions").
            if await topic_partitions(admin, changelog) is None:
                configs = {"cleanup.policy": "compact"}
                await _create(admin, replication.new_topic(changelog, partitions, configs))
        if await topic_partitions(admin, settings.dlq_topic) is None:
            await _create(admin, replication.new_topic(settings.dlq_topic, partitions))
        return TopicLayout(partitions, output_partitions, replication, alerts_partitions)
    finally:
        await admin.close()
