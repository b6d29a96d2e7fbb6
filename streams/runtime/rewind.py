"""Never commit past a record the agent has not processed; re-read it instead.

Faust (faust-streaming 0.15) and aiokafka leave three holes around a rebalance or a
restart, all seen on the embedded broker:

1. Faust seeks the source partitions "to their committed offsets" through aiokafka's
   ``seek_to_committed``, which only seeks when the committed offset is above 0. A
   partition of a new consumer group keeps whatever fetch position it had, so records the
   previous generation processed but had not committed are not read again (two workers on
   a fresh group: the group stayed one record behind, ``csscore bench`` phase (e) hung).
2. The stream drops a record fetched while flow control is off or with an older generation
   id, without acknowledging it, expecting the seek above to bring it back.
3. Faust's commit takes the longest run of consecutive acknowledged offsets. It checks for
   a missing head only when a committed offset is known and only for gaps longer than one,
   so a record dropped by 2 at the head of a partition is committed over: lost until
   the group is reset (a state-wipe fault test lost two orgs' history this way).

``RewindingConsumer`` closes them: uncommitted partitions are rewound to their first
offset when Faust seeks (1); the agent admits a partition's records only in offset order
(``admit``): a record after a hole is set aside, as if Faust had dropped it too, and the
partition is read again from the first missing offset, so no record is processed before
one that precedes it (a dropped record read again after later ones would apply an org's
events out of order) (2); a commit never passes the first offset not yet processed (3);
and a partition whose head stays unprocessed for ``HEAD_STALL_SECONDS`` while later
records are acknowledged is sought back to it, so the dropped record is read again (2).
A dropped record with nothing after it is caught by ``check_idle_heads``: once the agent
has been idle for ``HEAD_STALL_SECONDS``, a partition with records past its head and none
in flight is sought back to its head (two workers joining a new group left a one-record
partition unread for good before this check).
Re-reading is harmless: the agent keeps applied offsets per org and only re-emits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from aiokafka import TopicPartition
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer

log = logging.getLogger("csscore.worker")

HEAD_STALL_SECONDS = 15.0


def rewinding_consumer(
    topics: Collection[str], before_commit: Callable[[], Awaitable[None]]
) -> type[Consumer]:
    """A Faust aiokafka ``Consumer`` class with the fixes above for ``topics``, running
    ``before_commit`` (the state flush) before every offset commit."""
    rewind = frozenset(topics)

    class RewindingConsumerThread(AIOKafkaConsumerThread):
        async def seek_to_committed(self) -> Mapping[Any, int]:
            result: Mapping[Any, int] = await self.call_thread(self._seek_committed_or_start)
            return result

        async def _seek_committed_or_start(self) -> Mapping[TopicPartition, int | None]:
            consumer = self._ensure_consumer()
            committed: Mapping[TopicPartition, int | None] = await consumer.seek_to_committed()
            uncommitted = [
                tp for tp, offset in committed.items() if not offset and tp.topic in rewind
            ]
            if uncommitted:
                await consumer.seek_to_beginning(*uncommitted)
            owner: RewindingConsumer = self.consumer  # type: ignore[assignment]
            for tp, offset in committed.items():
                if tp.topic in rewind:
                    start = offset if offset else await consumer.position(tp)
                    owner.note_start(tp, start)
            return committed

        async def end_offsets_of(self, tps: list[Any]) -> Mapping[Any, int]:
            result: Mapping[Any, int] = await self.call_thread(self._end_offsets, tps)
            return result

        async def _end_offsets(self, tps: list[Any]) -> Mapping[Any, int]:
            consumer = self._ensure_consumer()
            kafka_tps = {tp: TopicPartition(tp.topic, tp.partition) for tp in tps}
            ends = await consumer.end_offsets(list(kafka_tps.values()))
            paused = consumer.paused()
            for tp, kafka_tp in kafka_tps.items():  # fetched again once sought back
                if kafka_tp in paused:
                    log.warning("%s[%d] was paused; resuming it", tp.topic, tp.partition)
                    consumer.resume(kafka_tp)
            return {tp: ends[kafka_tp] for tp, kafka_tp in kafka_tps.items()}

        async def seek_back(self, tp: Any, offset: int) -> None:
            await self.call_thread(self._seek_now, TopicPartition(tp.topic, tp.partition), offset)

        async def _seek_now(self, tp: TopicPartition, offset: int) -> None:
            self._ensure_consumer().seek(tp, offset)

    class RewindingConsumer(Consumer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._start_offsets: dict[Any, int] = {}  # next offset to process, per tp
            self._expected: dict[Any, int] = {}  # next offset the agent may process
            self._rereading: dict[Any, int] = {}  # offset a read-again is under way from
            self._head_stalled_since: dict[Any, float] = {}
            self._read_again_tasks: set[asyncio.Future[None]] = set()
            super().__init__(*args, **kwargs)

        async def commit(
            self, topics: Any = None, start_new_transaction: bool = True
        ) -> bool:
            """Every commit (timer, commit-every, rebalance, shutdown) flushes first: the
            offsets it commits are those of records whose state the flush made durable."""
            await before_commit()
            committed: bool = await super().commit(topics, start_new_transaction)
            return committed

        def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
            return RewindingConsumerThread(self, loop=self.loop, beacon=self.beacon)

        def note_start(self, tp: Any, offset: int) -> None:
            self._start_offsets[tp] = offset
            self._expected[tp] = offset
            self._head_stalled_since.pop(tp, None)

        def admit(self, message: Any) -> bool:
            """Whether the agent may process ``message`` now: the next offset of its
            partition, or of a partition not watched. A later one is set aside (Faust
            forgets it, unacknowledged) and the partition is read again from the
            missing offset; an earlier one was processed already (read again after a
            seek back) and is set aside too."""
            tp = message.tp
            if tp.topic not in rewind:
                return True
            offset = message.offset
            expected = self._expected.get(tp)
            if expected is None or offset == expected:
                self._expected[tp] = offset + 1
                return True
            self._unacked_messages.discard(message)
            if offset > expected:
                self._forget_acks_from(tp, expected)
            if offset > expected and self._rereading.get(tp) != expected:
                self._rereading[tp] = expected
                log.warning(
                    "%s[%d]: offset %d arrived before %d; reading from %d again",
                    tp.topic,
                    tp.partition,
                    offset,
                    expected,
                    expected,
                )
                self._schedule_read_again(tp, expected)
            return False

        def _forget_acks_from(self, tp: Any, offset: int) -> None:
            """Faust acknowledges a record its stream skips (flow control, an older
            generation) without processing it: such acks at or after the first offset
            not processed must not let a commit pass it."""
            acked = self._acked[tp]
            stale = [o for o in acked if o >= offset]
            if stale:
                index = self._acked_index[tp]
                for o in stale:
                    acked.remove(o)
                    index.discard(o)

        def _new_offset(self, tp: Any) -> int | None:
            if tp.topic in rewind and not self._gap[tp]:
                head = self._committed_offset[tp] or self._start_offsets.get(tp)
                acked = self._acked[tp]
                if head is not None and acked and min(acked) > head:
                    self._on_head_stalled(tp, head)
                    return None
                self._head_stalled_since.pop(tp, None)
            offset: int | None = super()._new_offset(tp)
            return offset

        async def check_idle_heads(self, idle_seconds: float) -> None:
            """Called periodically with how long the agent has been idle: a partition
            with records past its head, none of them in flight or acknowledged, while
            the agent idles, had its head dropped; read it again."""
            if idle_seconds < HEAD_STALL_SECONDS or not self.app.flow_control.is_active():
                return
            in_flight = {message.tp for message in self._unacked_messages}
            heads: dict[Any, int] = {}
            for tp in self.assignment():
                if tp.topic in rewind and not self._acked[tp] and tp not in in_flight:
                    head = self._committed_offset[tp] or self._start_offsets.get(tp)
                    if head is not None:
                        heads[tp] = head
            if not heads:
                return
            thread: RewindingConsumerThread = self._thread  # type: ignore[assignment]
            ends = await thread.end_offsets_of(list(heads))
            for tp, head in heads.items():
                if ends.get(tp, 0) > head and tp in self.assignment():
                    log.warning(
                        "%s[%d]: offsets %d-%d are not processed while the worker idles; "
                        "reading from %d again",
                        tp.topic,
                        tp.partition,
                        head,
                        ends[tp] - 1,
                        head,
                    )
                    self._schedule_read_again(tp, head)

        def _on_head_stalled(self, tp: Any, head: int) -> None:
            now = time.monotonic()
            since = self._head_stalled_since.setdefault(tp, now)
            if now - since < HEAD_STALL_SECONDS:
                return
            self._head_stalled_since[tp] = now
            log.warning(
                "%s[%d]: offset %d was not processed while later ones were; reading from it again",
                tp.topic,
                tp.partition,
                head,
            )
            self._schedule_read_again(tp, head)

        def _schedule_read_again(self, tp: Any, offset: int) -> None:
            task = asyncio.ensure_future(self._read_again_from(tp, offset))
            self._read_again_tasks.add(task)
            task.add_done_callback(self._read_again_tasks.discard)

        async def _read_again_from(self, tp: Any, offset: int) -> None:
            thread: RewindingConsumerThread = self._thread  # type: ignore[assignment]
            try:
                await thread.seek_back(tp, offset)
            except Exception as exc:  # revoked meanwhile: the next owner reads it again
                log.warning("%s[%d]: could not read again from %d: %s", *tp, offset, exc)
                if self._rereading.get(tp) == offset:
                    del self._rereading[tp]  # the same hole, found again, is read again
                return
            self._read_offset[tp] = offset if offset else None  # or Faust drops them
            if self._rereading.get(tp) == offset:
                del self._rereading[tp]  # a record still missing later is read again anew

    return RewindingConsumer
