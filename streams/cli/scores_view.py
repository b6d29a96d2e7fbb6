"""Reading the score topic for people: a live table (``tail``; ``tail --alerts``: the
alerts topic) and one org's latest records (``score-of``), straight from Kafka (no web
server needed)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Iterator
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


def _plain_score(record: dict[str, Any]) -> str:
    row = _row(record)
    categories = " ".join(
        f"{short}={value}" for (_, short), value in zip(CATEGORY_COLUMNS, row[5:8], strict=True)
    )
    return (
        f"{row[0]} {row[1]} {row[2]} overall={row[3]} band={row[4]} {categories}"
        f" rev={row[8]} as_of={row[9]}"
    )


def _plain_alert(alert: dict[str, Any]) -> str:
    row = dict(zip(ALERT_COLUMNS, _alert_row(alert), strict=True))
    return (
        f"{row['org']} {row['kind']} {row['scope']} {row['period']} {row['from']} -> {row['to']}"
        f" changed={row['changed']} rev={row['rev']} since={row['since']} as_of={row['as_of']}"
        f" top_mover={row['top mover'].replace(' ', ':')}"
    )


async def tail_scores(
    bootstrap: str,
    topic: str,
    security: KafkaSecurity,
    *,
    org: str | None,
    from_beginning: bool,
    max_seconds: float | None = None,
    alerts: bool = False,
    output: str = "auto",
    until_end: bool = False,
    stop: asyncio.Event | None = None,
) -> None:
    """Print score updates (with ``alerts``, alert records).

    ``output``: ``table`` (a live table: latest record per org and kind, or the latest 40
    distinct alerts), ``lines`` (one timestamped line per record, for logs and pipes),
    ``json`` (the records as JSON lines), ``auto`` (table on a terminal, else lines).
    ``until_end``: stop at the end offsets the topic had at the start; ``stop``: stop when
    set (a signal handler)."""
    if output == "auto":
        output = "table" if sys.stdout.isatty() else "lines"
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
        ends = await consumer.end_offsets(tps) if until_end else {}
        schema = "css.alert/v1" if alerts else "css.score/v1"
        shown = _TailTable(topic, alerts) if output == "table" else None
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        out = sys.stdout
        with shown.live() if shown is not None else contextlib.nullcontext():
            while deadline is None or time.monotonic() < deadline:
                if stop is not None and stop.is_set():
                    break
                batch = await consumer.getmany(timeout_ms=250, max_records=5000)
                for messages in batch.values():
                    for message in messages:
                        if org is not None and message.key != org.encode():
                            continue
                        record = score_record(message.value, schema)
                        if shown is not None:
                            shown.add(record)
                        elif record is None:
                            continue
                        elif output == "json":
                            out.write(orjson.dumps(record).decode() + "\n")
                        else:
                            text = _plain_alert(record) if alerts else _plain_score(record)
                            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())
                            out.write(f"{stamp} {text}\n")
                if shown is not None:
                    shown.refresh()
                else:
                    out.flush()
                if until_end and await _at_end(consumer, ends):
                    break
    finally:
        await consumer.stop()


async def _at_end(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True


class _TailTable:
    """The live table of ``tail`` on a terminal."""

    def __init__(self, topic: str, alerts: bool) -> None:
        from rich.console import Console

        self.topic, self.alerts = topic, alerts
        self.latest: dict[tuple[str, ...], dict[str, Any]] = {}
        self.updates = self.ignored = 0
        self.console = Console()
        self.view: Any = None

    @contextlib.contextmanager
    def live(self) -> Iterator[None]:
        from rich.live import Live

        with Live(self.render(), console=self.console, refresh_per_second=4) as view:
            self.view = view
            yield

    def add(self, record: dict[str, Any] | None) -> None:
        if record is None:
            self.ignored += 1
            return
        if self.alerts:
            key = _alert_key(record)
            self.latest.pop(key, None)  # newest last
        else:
            key = (str(record.get("org_id")), str(record.get("kind")))
        self.latest[key] = record
        self.updates += 1

    def refresh(self) -> None:
        self.view.update(self.render())

    def render(self) -> Any:
        from rich.table import Table

        ignored = _ignored(self.ignored)
        if self.alerts:
            table = Table(title=f"alerts on {self.topic} ({self.updates} records{ignored})")
            for column in ALERT_COLUMNS:
                table.add_column(column)
            for alert in list(self.latest.values())[-40:]:
                table.add_row(*_alert_row(alert))
            return table
        table = Table(title=f"scores on {self.topic} ({self.updates} updates{ignored})")
        for column in ("org", "kind", "period", "overall", "band"):
            table.add_column(column)
        for _, short in CATEGORY_COLUMNS:
            table.add_column(short, justify="right")
        table.add_column("rev", justify="right")
        table.add_column("as_of")
        rows = sorted(self.latest.values(), key=lambda r: (str(r.get("org_id")), r["kind"]))
        for record in rows[-40:]:
            table.add_row(*_row(record))
        return table
