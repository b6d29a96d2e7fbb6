"""Reading the score topic for people: a live table (``tail``) and one org's latest records
(``score-of``), straight from Kafka (no web server needed)."""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.config import KafkaSecurity
from streams.errors import UsageError
from streams.runtime.routing import partition_for_key

CATEGORY_COLUMNS = (
    ("product_adoption", "PA"),
    ("customer_expertise", "CE"),
    ("technical_health", "TH"),
)


async def _partitions(bootstrap: str, security: KafkaSecurity, topic: str) -> set[int]:
    """Partition numbers of ``topic`` (checked to exist first: describing a missing topic
    may create it when the broker auto-creates topics)."""
    from streams.runtime.topics import topic_partitions

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security.aiokafka_kwargs())
    await admin.start()
    try:
        count = await topic_partitions(admin, topic)
    finally:
        await admin.close()
    if count is None:
        raise UsageError(f"topic {topic} does not exist")
    return set(range(count))


def _consumer(bootstrap: str, security: KafkaSecurity) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **security.aiokafka_kwargs(),
    )


async def latest_records_of(
    bootstrap: str, topic: str, security: KafkaSecurity, org: str, chunk: int = 2000
) -> list[dict[str, Any]]:
    """The latest monthly record (highest period, then revision) and the latest live record
    of ``org``, read backwards from the end of the org's partition."""
    consumer = _consumer(bootstrap, security)
    await consumer.start()
    try:
        partitions = await _partitions(bootstrap, security, topic)
        tp = TopicPartition(topic, partition_for_key(org, len(partitions)))
        consumer.assign([tp])
        start = (await consumer.beginning_offsets([tp]))[tp]
        end = (await consumer.end_offsets([tp]))[tp]
        live: tuple[int, dict[str, Any]] | None = None
        monthly: tuple[tuple[str, int], dict[str, Any]] | None = None
        upper = end
        key = org.encode()
        while upper > start and (live is None or monthly is None):
            lower = max(start, upper - chunk)
            consumer.seek(tp, lower)
            position = lower
            while position < upper:
                batch = await consumer.getmany(tp, timeout_ms=2000, max_records=chunk)
                messages = batch.get(tp, [])
                if not messages:
                    break
                for message in messages:
                    position = message.offset + 1
                    if message.offset >= upper or message.key != key:
                        continue
                    record = orjson.loads(message.value)
                    if record.get("kind") == "live":
                        if live is None or message.offset > live[0]:
                            live = (message.offset, record)
                    else:
                        rank = (str(record.get("period")), int(record.get("revision", 0)))
                        if monthly is None or rank >= monthly[0]:
                            monthly = (rank, record)
            upper = lower
        return [record for record in (monthly and monthly[1], live and live[1]) if record]
    finally:
        await consumer.stop()


def _row(record: dict[str, Any]) -> list[str]:
    def text(value: object) -> str:
        return "-" if value is None else str(value)

    categories = record.get("categories", {})
    return [
        str(record.get("org_id")),
        str(record.get("kind")),
        str(record.get("period")),
        text(record.get("overall", {}).get("score")),
        text(record.get("overall", {}).get("band")),
        *[text(categories.get(name, {}).get("score")) for name, _ in CATEGORY_COLUMNS],
        text(record.get("revision")),
        str(record.get("as_of")),
    ]


async def tail_scores(
    bootstrap: str,
    topic: str,
    security: KafkaSecurity,
    *,
    org: str | None,
    from_beginning: bool,
    max_seconds: float | None = None,
) -> None:
    """Print score updates as a live table (latest record per org and kind)."""
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    consumer = _consumer(bootstrap, security)
    await consumer.start()
    try:
        partitions = await _partitions(bootstrap, security, topic)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        updates = 0
        console = Console()
        deadline = None if max_seconds is None else time.monotonic() + max_seconds

        def render() -> Table:
            table = Table(title=f"scores on {topic} ({updates} updates)")
            for column in ("org", "kind", "period", "overall", "band"):
                table.add_column(column)
            for _, short in CATEGORY_COLUMNS:
                table.add_column(short, justify="right")
            table.add_column("rev", justify="right")
            table.add_column("as_of")
            rows = sorted(latest.values(), key=lambda r: (str(r.get("org_id")), r["kind"]))
            for record in rows[-40:]:
                table.add_row(*_row(record))
            return table

        with Live(render(), console=console, refresh_per_second=4) as view:
            while deadline is None or time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=250, max_records=5000)
                for messages in batch.values():
                    for message in messages:
                        if org is not None and message.key != org.encode():
                            continue
                        record = orjson.loads(message.value)
                        latest[(str(record.get("org_id")), str(record.get("kind")))] = record
                        updates += 1
                view.update(render())
    finally:
        await consumer.stop()
