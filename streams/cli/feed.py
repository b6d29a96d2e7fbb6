"""``csscore produce | tick``: feeding the telemetry topic.

- ``produce`` publishes JSON-lines files to Kafka, keyed by org id, optionally batching
  consecutive single-event lines of one org into array records.
- ``tick`` writes one ``clock.tick`` to every partition so idle partitions' watermarks
  move and months close.

Producers use the security settings of ``streams.config``, ``acks=all`` and
idempotence, and the 8 MiB request limit (a too_large test line must reach the broker).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

from scoring.timeutil import InvalidTime, format_time_ms, parse_time_ms
from streams.codec.decoding import MAX_BATCH_EVENTS, MAX_RECORD_BYTES
from streams.codec.fast_decode import decode_record
from streams.config import KafkaSecurity, bootstrap_from_env
from streams.errors import UsageError
from streams.runtime.clients import started as started_client
from streams.runtime.topics import create_topic

DEFAULT_TOPIC = "telemetry"
TICK_SOURCE = "csscore/tick"
TICK_SUBJECT = "clock"
PROGRESS_EVERY_S = 2.0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``produce`` and ``tick``."""
    topic = os.environ.get("CSS_INPUT_TOPIC", "").strip() or DEFAULT_TOPIC
    prod = subparsers.add_parser(
        "produce",
        help="publish JSON-lines files to the telemetry topic",
        description="Publish JSON lines keyed by org id (security from CSS_KAFKA_* variables)."
        " With --tick-at-end, then tick every partition at the files' latest valid event"
        " time, so the months the data covers close and none beyond it.",
    )
    prod.add_argument("files", nargs="+", metavar="FILE", help="JSON-lines files ('-' = stdin)")
    topic_help = "topic (default: CSS_INPUT_TOPIC or telemetry)"
    prod.add_argument("--topic", default=topic, help=topic_help)
    prod.add_argument(
        "--tick-at-end",
        action="store_true",
        help="after the files, a clock.tick on every partition at their latest event time",
    )
    prod.add_argument(
        "--batch", type=int, default=1, help="group up to N consecutive events of one org"
    )
    prod.add_argument("--rate", type=float, default=0.0, help="max events per second (0 = max)")
    prod.add_argument(
        "--partitions", type=int, default=0, help="create the topic with N partitions if missing"
    )
    prod.set_defaults(handler=run_produce)

    tick = subparsers.add_parser(
        "tick",
        help="write one clock.tick to every partition of the topic",
        description="Write one clock.tick to every partition of the input topic: each"
        " partition's watermark moves to that time and the months it passes close. Give the"
        " event time of your data (--time); --now uses the wall clock, which closes every"
        " month up to today for every org.",
    )
    tick.add_argument("--topic", default=topic, help=topic_help)
    when = tick.add_mutually_exclusive_group(required=True)
    when.add_argument("--time", help="tick time, RFC 3339 (e.g. your data's latest event time)")
    when.add_argument("--now", action="store_true", help="tick at the wall clock")
    tick.set_defaults(handler=run_tick)


# --- produce ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutRecord:
    """One Kafka record to publish: its key, value and how many events it carries."""

    key: bytes | None
    value: bytes
    events: int


def _read_lines(paths: Iterable[str]) -> Iterator[bytes]:
    for path in paths:
        if path == "-":
            stream: IO[bytes] = sys.stdin.buffer
            yield from (line.rstrip(b"\r\n") for line in stream)
            continue
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror}") from None
        with handle:
            yield from (line.rstrip(b"\r\n") for line in handle)


def plan_records(lines: Iterable[bytes], batch: int) -> Iterator[OutRecord]:
    """Turn input lines into records (pure; unit-tested).

    A line that is an array is one record unchanged (key: its first element's subject); an
    unparsable line is published unchanged with no key (the scorer dead-letters it); blank
    lines are skipped. With ``batch`` > 1, consecutive single-event lines of one org are
    grouped into an array record of at most ``batch`` and 10,000 events and 1 MiB.
    """
    limit = min(max(batch, 1), MAX_BATCH_EVENTS)
    pending: list[bytes] = []
    pending_key: bytes | None = None
    pending_bytes = 2  # the brackets

    def flush() -> Iterator[OutRecord]:
        nonlocal pending, pending_bytes
        if not pending:
            return
        if len(pending) == 1:
            yield OutRecord(pending_key, pending[0], 1)
        else:
            yield OutRecord(pending_key, b"[" + b",".join(pending) + b"]", len(pending))
        pending = []
        pending_bytes = 2

    for line in lines:
        if not line.strip():
            continue
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            yield from flush()
            yield OutRecord(None, line, 1)
            continue
        if isinstance(doc, list):
            yield from flush()
            first = doc[0] if doc else None
            yield OutRecord(_subject_key(first), line, max(len(doc), 1))
            continue
        key = _subject_key(doc)
        if limit == 1 or key is None or not isinstance(doc, dict):
            yield from flush()
            yield OutRecord(key, line, 1)
            continue
        grown = pending_bytes + len(line) + (1 if pending else 0)
        if pending and (key != pending_key or len(pending) >= limit or grown > MAX_RECORD_BYTES):
            yield from flush()
            grown = pending_bytes + len(line)
        if grown > MAX_RECORD_BYTES:  # a line too big to batch goes alone (and is too_large)
            yield from flush()
            yield OutRecord(key, line, 1)
            continue
        pending.append(line)
        pending_key = key
        pending_bytes = grown
    yield from flush()


def _subject_key(doc: object) -> bytes | None:
    if isinstance(doc, dict):
        subject = doc.get("subject")
        if isinstance(subject, str) and subject:
            return subject.encode()
    return None


def _kafka_clients() -> tuple[str, KafkaSecurity]:
    return bootstrap_from_env(), KafkaSecurity.from_env()


async def produce_records(
    records: Iterable[OutRecord],
    topic: str,
    *,
    bootstrap: str,
    security: KafkaSecurity,
    rate: float = 0.0,
    progress: IO[str] | None = None,
) -> tuple[int, int]:
    """Publish records, waiting for every acknowledgement; (records, events) acknowledged."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        **security.producer_kwargs(),
    )
    await started_client(producer)
    sent_records = sent_events = 0
    started = last_report = time.monotonic()
    in_flight: list[asyncio.Future[Any]] = []
    try:
        for record in records:
            in_flight.append(await producer.send(topic, value=record.value, key=record.key))
            sent_records += 1
            sent_events += record.events
            if len(in_flight) >= 1000:
                await asyncio.gather(*in_flight)
                in_flight.clear()
            if rate > 0:
                ahead = sent_events / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            now = time.monotonic()
            if progress is not None and now - last_report >= PROGRESS_EVERY_S:
                last_report = now
                print(
                    f"produce: records={sent_records} events={sent_events} "
                    f"({sent_events / max(now - started, 1e-9):.0f} events/s)",
                    file=progress,
                    flush=True,
                )
        await asyncio.gather(*in_flight)
    finally:
        await producer.stop()
    return sent_records, sent_events


def run_produce(args: argparse.Namespace) -> int:
    if args.batch < 1:
        raise UsageError("--batch must be >= 1")
    if args.rate < 0 or args.partitions < 0:
        raise UsageError("--rate and --partitions must be >= 0")
    bootstrap, security = _kafka_clients()

    watermark = Watermark(time.time_ns() // 1_000_000)

    async def main() -> tuple[int, int]:
        if args.partitions:
            await create_topic(bootstrap, args.topic, args.partitions, security=security)
        lines = _read_lines(args.files)
        return await produce_records(
            plan_records(watermark.follow(lines) if args.tick_at_end else lines, args.batch),
            args.topic,
            bootstrap=bootstrap,
            security=security,
            rate=args.rate,
            progress=sys.stderr,
        )

    records, events = asyncio.run(main())
    print(f"records={records} events={events} acknowledged", file=sys.stderr)
    if args.tick_at_end:
        if watermark.time_ms is None:
            print("no valid event: no tick sent", file=sys.stderr)
            return 0
        count = asyncio.run(
            send_ticks(args.topic, watermark.time_ms, bootstrap=bootstrap, security=security)
        )
        print(f"ticks={count} time={format_time_ms(watermark.time_ms)}", file=sys.stderr)
    return 0


class Watermark:
    """The latest time of the valid events of the lines it follows (what the worker's
    watermark reaches once they are scored)."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms
        self.time_ms: int | None = None

    def follow(self, lines: Iterable[bytes]) -> Iterator[bytes]:
        for line in lines:
            for _index, event in decode_record(line, self.now_ms).events:
                if self.time_ms is None or event.time_ms > self.time_ms:
                    self.time_ms = event.time_ms
            yield line


# --- tick ------------------------------------------------------------------------------------


def tick_event(time_ms: int, partition: int) -> bytes:
    """One clock.tick (spec 3): any subject, no data; a unique id so it is never a dup."""
    event = {
        "specversion": "1.0",
        "id": f"tick-{uuid.uuid4().hex}-p{partition}",
        "source": TICK_SOURCE,
        "type": "clock.tick",
        "subject": TICK_SUBJECT,
        "time": format_time_ms(time_ms),
    }
    return orjson.dumps(event)


async def send_ticks(topic: str, time_ms: int, *, bootstrap: str, security: KafkaSecurity) -> int:
    """Write one tick to every partition of ``topic``; the number of partitions."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        **security.producer_kwargs(),
    )
    await started_client(producer)
    try:
        partitions = await producer.partitions_for(topic)
        if not partitions:
            raise UsageError(f"topic {topic} has no partitions (does it exist?)")
        await asyncio.gather(
            *[
                await producer.send(
                    topic, value=tick_event(time_ms, p), key=TICK_SUBJECT.encode(), partition=p
                )
                for p in sorted(partitions)
            ]
        )
        return len(partitions)
    finally:
        await producer.stop()


def run_tick(args: argparse.Namespace) -> int:
    if args.now:
        time_ms = time.time_ns() // 1_000_000
    else:
        try:
            time_ms = parse_time_ms(args.time)
        except InvalidTime as exc:
            raise UsageError(f"--time: {exc}") from None
    bootstrap, security = _kafka_clients()
    count = asyncio.run(send_ticks(args.topic, time_ms, bootstrap=bootstrap, security=security))
    print(f"ticks={count} time={format_time_ms(time_ms)} topic={args.topic}", file=sys.stderr)
    return 0
