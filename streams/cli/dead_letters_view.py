"""``csscore dead-letters``: read the dead-letter topic with its reasons.

One line per dead-lettered item: its input position (topic[partition]@offset), the reason
code and the detail from its headers, and the size of the value. Values are printed only
with ``--values`` (they are the rejected events: the operator asks for them explicitly).
``--json`` prints one JSON object per item instead. Stops at the end of the topic as it
was at the start (``--follow`` keeps reading).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.codec.dlq import (
    HEADER_DETAIL,
    HEADER_REASON,
    HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC,
)
from streams.config import KafkaSecurity, settings_from_env
from streams.errors import UsageError
from streams.runtime.clients import started
from streams.runtime.topics import topic_partitions


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "dead-letters",
        help="list the rejected input with its reasons",
        description="List the dead-letter topic (CSS_DLQ_TOPIC): per rejected item, where it"
        " came from (topic[partition]@offset), the reason code and its detail, and its size;"
        " the rejected values themselves only with --values.",
    )
    parser.add_argument(
        "--topic", help="dead-letter topic (default: CSS_DLQ_TOPIC or telemetry.dlq)"
    )
    parser.add_argument("--reason", help="only this reason code (e.g. schema_violation)")
    parser.add_argument("--values", action="store_true", help="also print each rejected value")
    parser.add_argument("--json", action="store_true", help="one JSON object per item")
    parser.add_argument("--follow", action="store_true", help="keep reading new items")
    parser.set_defaults(handler=run)


def describe(headers: list[tuple[str, bytes]], value: bytes | None) -> dict[str, Any]:
    found = {name: raw.decode(errors="replace") for name, raw in headers}
    topic = found.get(HEADER_SOURCE_TOPIC, "?")
    partition = found.get(HEADER_SOURCE_PARTITION, "?")
    return {
        "source": f"{topic}[{partition}]@{found.get(HEADER_SOURCE_OFFSET, '?')}",
        "reason": found.get(HEADER_REASON, "unknown"),
        "detail": found.get(HEADER_DETAIL, ""),
        "bytes": 0 if value is None else len(value),
    }


async def read(
    bootstrap: str, security: KafkaSecurity, topic: str, args: argparse.Namespace
) -> int:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = await started(
        AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security.aiokafka_kwargs())
    )
    try:
        count = await topic_partitions(admin, topic)
    finally:
        await admin.close()
    if count is None:
        raise UsageError(f"topic {topic} does not exist (nothing was dead-lettered yet?)")
    consumer = await started(
        AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, **security.aiokafka_kwargs()
        )
    )
    shown = 0
    try:
        tps = [TopicPartition(topic, p) for p in range(count)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out = sys.stdout
        while True:
            batch = await consumer.getmany(timeout_ms=500, max_records=2000)
            for messages in batch.values():
                for message in messages:
                    item = describe(list(message.headers or []), message.value)
                    if args.reason and item["reason"] != args.reason:
                        continue
                    shown += 1
                    if args.json:
                        if args.values and message.value is not None:
                            item["value"] = message.value.decode(errors="replace")
                        out.write(orjson.dumps(item).decode() + "\n")
                        continue
                    size = f"({item['bytes']} bytes)"
                    out.write(f"{item['source']} {item['reason']}: {item['detail']} {size}\n")
                    if args.values and message.value is not None:
                        out.write("    " + message.value.decode(errors="replace") + "\n")
            out.flush()
            if not args.follow and all(
                [await consumer.position(tp) >= end for tp, end in ends.items()]
            ):
                break
    finally:
        await consumer.stop()
    return shown


def run(args: argparse.Namespace) -> int:
    settings = settings_from_env()
    topic = args.topic or settings.dlq_topic
    try:
        shown = asyncio.run(read(settings.bootstrap_servers, KafkaSecurity.from_env(), topic, args))
    except KeyboardInterrupt:
        return 0
    print(f"{shown} dead-lettered item(s) in {topic}", file=sys.stderr)
    return 0
