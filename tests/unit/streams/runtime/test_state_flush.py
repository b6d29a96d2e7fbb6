"""The flush order with fakes: outputs acknowledged first, then the changelog batches,
their acknowledgement, the local store, and only then the held events; a pass during a
flush belongs to the next one; a failed changelog send acknowledges nothing."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from streams.codec.table_values import PartitionClock, new_slot
from streams.pipeline.pass_result import PassResult
from streams.runtime.state_flush import StateFlusher
from tests.unit.streams.runtime.table_fakes import FakeProducer, new_store


class Outputs:
    """The outbox as the flusher sees it: deliveries not acknowledged yet."""

    def __init__(self) -> None:
        self.in_flight: list[asyncio.Future[Any]] = []

    def pending(self) -> list[asyncio.Future[Any]]:
        return [fut for fut in self.in_flight if not fut.done()]


class Event:
    def __init__(self, partition: int) -> None:
        self.acked = False
        self.message = type("Message", (), {"partition": partition})()

    def ack(self) -> None:
        self.acked = True


def pass_of(org: str) -> PassResult:
    return PassResult(0, PartitionClock(), {}, org_values={org: new_slot(org)})


def flusher(producer: FakeProducer) -> tuple[StateFlusher, Any, Outputs, list[str]]:
    store, orgs, _clocks = new_store()
    outputs = Outputs()
    failures: list[str] = []
    flush = StateFlusher(
        store,
        outputs,
        lambda: producer,
        lambda exc, where: failures.append(where),  # type: ignore[arg-type]
    )
    return flush, orgs, outputs, failures


def test_each_step_waits_for_the_one_before() -> None:
    producer = FakeProducer(auto=False)
    flush, orgs, outputs, failures = flusher(producer)
    event = Event(0)

    async def run() -> None:
        output: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        outputs.in_flight.append(output)
        flush.store.note(pass_of("a"))
        flush.hold(event)
        running = asyncio.ensure_future(flush.flush())
        for _ in range(5):
            await asyncio.sleep(0)
        assert producer.submitted == []  # the score records are not acknowledged yet
        output.set_result(None)
        for _ in range(5):
            await asyncio.sleep(0)
        assert [topic for topic, _p, _r in producer.submitted] == ["app-orgs-changelog"]
        assert orgs.data.data == {} and not event.acked  # the changelog is not acked yet
        producer.resolve_all()
        await running
        assert b"a" in orgs.data.data and event.acked

    asyncio.run(run())
    assert failures == [] and flush.flushes == 1


def test_an_event_held_during_a_flush_is_acknowledged_by_the_next_one() -> None:
    producer = FakeProducer(auto=False)
    flush, orgs, _outputs, _failures = flusher(producer)
    first, second = Event(0), Event(0)

    async def run() -> None:
        flush.store.note(pass_of("a"))
        flush.hold(first)
        running = asyncio.ensure_future(flush.flush())
        for _ in range(5):
            await asyncio.sleep(0)
        async with flush.pass_lock:  # a pass while the flush awaits its changelog acks
            flush.store.note(pass_of("b"))
            flush.hold(second)
        producer.resolve_all()
        await running
        assert first.acked and not second.acked and b"b" not in orgs.data.data
        producer.auto = True
        await flush.flush()
        assert second.acked and b"b" in orgs.data.data

    asyncio.run(run())


def test_a_failed_changelog_send_acknowledges_nothing_and_writes_nothing() -> None:
    producer = FakeProducer(auto=False)
    flush, orgs, _outputs, failures = flusher(producer)
    event = Event(0)

    async def run() -> None:
        flush.store.note(pass_of("a"))
        flush.hold(event)
        running = asyncio.ensure_future(flush.flush())
        for _ in range(5):
            await asyncio.sleep(0)
        fut, _base = producer.unresolved.pop()
        fut.set_exception(RuntimeError("not enough replicas"))
        with contextlib.suppress(RuntimeError):
            await running

    asyncio.run(run())
    assert failures == ["flushing state to the changelog"]
    assert not event.acked and orgs.data.data == {}  # the worker exits: all read again


def test_a_cancelled_caller_does_not_cancel_the_flush() -> None:
    # Faust cancels its fetcher at shutdown, which may be the task running a commit.
    producer = FakeProducer(auto=False)
    flush, orgs, _outputs, _failures = flusher(producer)
    event = Event(0)

    async def run() -> None:
        flush.store.note(pass_of("a"))
        flush.hold(event)
        caller = asyncio.ensure_future(flush.flush())
        for _ in range(5):
            await asyncio.sleep(0)
        caller.cancel()
        await asyncio.sleep(0)
        producer.resolve_all()
        await flush.flush()  # waits for the first flush, which went on
        assert event.acked and b"a" in orgs.data.data

    asyncio.run(run())


def test_nothing_to_flush_sends_nothing() -> None:
    producer = FakeProducer()
    flush, _orgs, _outputs, _failures = flusher(producer)
    asyncio.run(flush.flush())
    assert producer.submitted == [] and flush.flushes == 0


def test_a_flush_reports_once_with_the_orgs_it_wrote() -> None:
    reports: list[tuple[str, float]] = []

    class Observer:
        def flushed(self, seconds: float, orgs: int) -> None:
            reports.append(("flushed", orgs))
            assert seconds >= 0

        def dirty(self, orgs: int) -> None:
            reports.append(("dirty", orgs))

    store, _orgs, _clocks = new_store()
    flush = StateFlusher(store, Outputs(), lambda: FakeProducer(), lambda e, w: None, Observer())  # type: ignore[arg-type]
    store.note(pass_of("a"))
    store.note(pass_of("b"))
    flush.hold(Event(0))
    asyncio.run(flush.flush())
    assert reports == [("flushed", 2), ("dirty", 0)]
