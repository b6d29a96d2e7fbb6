"""Reading the score topic for people: a live table (``tail``; ``tail --alerts``: the
alerts topic) and one org's latest records (``score-of``), straight from Kafka (no web
server needed)."""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.config import KafkaSecurity
from streams.errors import UsageError
from streams.runtime.clients import started
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
    await started(consumer)
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
                    record = score_record(message.value)
                    if record is None:
                        continue  # not a score record: another topic's content
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


def score_record(value: bytes | None, schema: str = "css.score/v1") -> dict[str, Any] | None:
    """The record if ``value`` is a JSON object of ``schema``, else None."""
    if value is None:
        return None
    try:
        record = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(record, dict) or record.get("schema") != schema:
        return None
    return record


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


ALERT_COLUMNS = ("org", "kind", "scope", "period", "from", "to", "changed", "rev", "since",
                 "as_of", "top mover")  # fmt: skip


def _alert_row(alert: dict[str, Any]) -> list[str]:
    def standing(side: Any) -> str:
        if not isinstance(side, dict):
            return "-"
        return f"{side.get('band') or '-'} ({'-' if side.get('score') is None else side['score']})"

    movers = alert.get("movers") or [{}]
    mover = movers[0] if isinstance(movers[0], dict) else {}
    return [
        str(alert.get("org_id")),
        str(alert.get("kind")),
        str(alert.get("scope")),
        str(alert.get("period")),
        standing(alert.get("from")),
        standing(alert.get("to")),
        "yes" if alert.get("changed") else "no",
        str(alert.get("revision")),
        str(alert.get("since") or "-"),
        str(alert.get("as_of")),
        f"{mover['signal']} {mover['change']:+}" if "signal" in mover else "-",
    ]


def _ignored(count: int) -> str:
    """The title's note on records of another schema (a wrong ``--topic`` shows here)."""
    return f"; {count} records of another kind ignored: is this the right topic?" if count else ""


def _alert_key(alert: dict[str, Any]) -> tuple[str, ...]:
    """What an alert is about: band changes by (org, scope, period), whose latest revision
    replaces the earlier ones; live alerts by (org, kind, since)."""
    if alert.get("kind") == "band_change":
        return ("band", str(alert.get("org_id")), str(alert.get("scope")), str(alert.get("period")))
    return (str(alert.get("kind")), str(alert.get("org_id")), str(alert.get("since")))


async def tail_scores(
    bootstrap: str,
    topic: str,
    security: KafkaSecurity,
    *,
    org: str | None,
    from_beginning: bool,
    max_seconds: float | None = None,
    alerts: bool = False,
) -> None:
    """Print score updates as a live table (latest record per org and kind); with
    ``alerts``, alert records (the latest 40 distinct alerts, newest last)."""
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    consumer = _consumer(bootstrap, security)
    await started(consumer)
    try:
        partitions = await _partitions(bootstrap, security, topic)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        latest: dict[tuple[str, ...], dict[str, Any]] = {}
        updates = 0
        ignored = 0  # records of another kind (a wrong --topic shows here)
        console = Console()
        deadline = None if max_seconds is None else time.monotonic() + max_seconds

        def render_alerts() -> Table:
            table = Table(title=f"alerts on {topic} ({updates} records{_ignored(ignored)})")
            for column in ALERT_COLUMNS:
                table.add_column(column)
            for alert in list(latest.values())[-40:]:
                table.add_row(*_alert_row(alert))
            return table

        def render() -> Table:
            if alerts:
                return render_alerts()
            table = Table(title=f"scores on {topic} ({updates} updates{_ignored(ignored)})")
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
                        record = score_record(
                            message.value, "css.alert/v1" if alerts else "css.score/v1"
                        )
                        if record is None:
                            ignored += 1
                            continue
                        if alerts:
                            key = _alert_key(record)
                            latest.pop(key, None)  # newest last
                        else:
                            key = (str(record.get("org_id")), str(record.get("kind")))
                        latest[key] = record
                        updates += 1
                view.update(render())
    finally:
        await consumer.stop()
