"""When the worker's state reaches Kafka, and why an input offset is never committed ahead
of it.

The agent consumes with manual acks: a processed record is held, not acknowledged, and the
org values it changed stay in memory (``OrgStore.note``). Before every offset commit
(Faust's commit timer, its commit-every count, a rebalance, a shutdown: the rewinding
consumer calls ``flush`` first), and when too many orgs are dirty, one flush writes them
all:

1. under the pass lock (no pass runs): take the changed values, the held records and the
   output sends handed to the producer so far;
2. await those output and dead-letter sends: a monthly record exists before the clock that
   says its month is closed, and every record a held input owes is out before its offset
   can be committed;
3. encode the values (in slices of a few ms: passes go on meanwhile, copy on write keeps
   the flush's view) and send them to the tables' changelog topics, one producer batch per
   partition, then await the broker's acknowledgements (the flush never relies on the
   producer's own flush, which gives up after one 0.1 s wait);
4. write the local stores, one batch per partition with the changelog offset reached;
5. acknowledge the held records; Faust then commits their offsets.

A crash before 5 re-reads the records: the values may already hold them (their applied
offsets say so), so they are skipped and what they caused is emitted again. A crash
between 3 and 4 leaves the local store behind the changelog, which recovery replays.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from streams.runtime.org_store import FlushSnapshot, OrgStore
from streams.runtime.outbox import Outbox

log = logging.getLogger("csscore.worker")

DIRTY_ORGS_CAP = 20_000  # more dirty orgs than this: flush without waiting for a commit


class FlushObserver(Protocol):
    """What a flush reports (the worker's metrics): once per flush, never per org."""

    def flushed(self, seconds: float, orgs: int) -> None: ...

    def dirty(self, orgs: int) -> None: ...


class StateFlusher:
    def __init__(
        self,
        store: OrgStore,
        outbox: Outbox,
        producer: Callable[[], Any],
        on_failure: Callable[[BaseException, str], None],
        observer: FlushObserver | None = None,
    ) -> None:
        self.observer = observer
        self.store = store
        self.outbox = outbox
        self.producer = producer  # the aiokafka producer (exists once the app runs)
        self.on_failure = on_failure
        self.pass_lock = asyncio.Lock()  # held by the agent around each pass
        self.flush_lock = asyncio.Lock()  # one flush at a time
        self.held: list[Any] = []  # processed events, not acknowledged yet
        self.flushes = 0

    def hold(self, event: Any) -> None:
        """A processed event (under the pass lock): acknowledged by the next flush."""
        self.held.append(event)

    def over_cap(self) -> bool:
        return self.store.dirty_count() > DIRTY_ORGS_CAP and not self.flush_lock.locked()

    async def flush(self) -> None:
        """Write what every held event changed, then acknowledge the events.

        The flush runs as its own task, shielded: a caller cancelled at shutdown (Faust
        cancels its fetcher, which may be the task committing) does not cancel a flush
        half done, whose copy-on-write encodes already advanced dedup logs. It runs in an
        empty context: the table reads it makes must not see the caller's stream event
        (Faust then reads only that event's partition)."""
        task = asyncio.get_running_loop().create_task(
            self._flush_once(), context=contextvars.Context()
        )
        await asyncio.shield(task)

    async def _flush_once(self) -> None:
        async with self.flush_lock:
            started = time.perf_counter()
            async with self.pass_lock:
                snapshot = self.store.take_snapshot()
                held, self.held = self.held, []
                outputs = self.outbox.pending()
            if snapshot.is_empty() and not held:
                self.store.flushing = None
                return
            try:
                await self.write(snapshot, outputs)
            except BaseException as exc:  # a send failed: exit, the records are read again
                self.on_failure(exc, "flushing state to the changelog")
                raise
            self.flushes += 1
            self.acknowledge(held)
            if self.observer is not None:
                self.observer.flushed(time.perf_counter() - started, len(snapshot.slots))
                self.observer.dirty(self.store.dirty_count())

    async def write(self, snapshot: FlushSnapshot, outputs: list[asyncio.Future[Any]]) -> None:
        if outputs:
            await asyncio.gather(*outputs)
        await self.store.encode(snapshot)
        deliveries = await self.store.send(snapshot, self.producer())
        if deliveries:
            await asyncio.gather(*deliveries)
        self.store.write_local(snapshot)

    def acknowledge(self, held: list[Any]) -> None:
        for event in held:
            event.ack()
