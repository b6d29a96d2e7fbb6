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
offset when Faust seeks (1); a commit never passes the first offset not yet processed (3);
and a partition whose head stays unprocessed for ``HEAD_STALL_SECONDS`` while later
records are acknowledged is sought back to it, so the dropped record is read again (2).
Re-reading is harmless: the agent keeps applied offsets per org and only re-emits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Mapping
from typing import Any

from aiokafka import TopicPartition
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer

log = logging.getLogger("csscore.worker")

HEAD_STALL_SECONDS = 15.0


def rewinding_consumer(topics: Collection[str]) -> type[Consumer]:
    """A Faust aiokafka ``Consumer`` class with the fixes above for ``topics``."""
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

        async def seek_back(self, tp: Any, offset: int) -> None:
            await self.call_thread(self._seek_now, TopicPartition(tp.topic, tp.partition), offset)

        async def _seek_now(self, tp: TopicPartition, offset: int) -> None:
            self._ensure_consumer().seek(tp, offset)

    class RewindingConsumer(Consumer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._start_offsets: dict[Any, int] = {}  # next offset to process, per tp
            self._head_stalled_since: dict[Any, float] = {}
            self._read_again_tasks: set[asyncio.Future[None]] = set()
            super().__init__(*args, **kwargs)

        def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
            return RewindingConsumerThread(self, loop=self.loop, beacon=self.beacon)

        def note_start(self, tp: Any, offset: int) -> None:
            self._start_offsets[tp] = offset
            self._head_stalled_since.pop(tp, None)

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
                return
            self._read_offset[tp] = offset if offset else None  # or Faust drops them

    return RewindingConsumer
