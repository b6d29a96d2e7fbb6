"""OrgStore without Faust: what a flush writes (chunks before the value, one batch per
changelog partition, the local store only after the delivery), copy on write during a
flush, deletes of unnamed chunks one flush later, reading an org back with its chunks, the
roster scan, format-1 values, and the chunks a new process sends again."""

from __future__ import annotations

import asyncio
from typing import Any

from scoring.timeutil import parse_time_ms
from streams.codec.dedup_log import CHUNK_IDS, chunk_key
from streams.codec.table_values import PartitionClock, new_slot
from streams.pipeline.pass_result import PassResult
from streams.runtime.org_store import OrgStore
from streams.runtime.table_io import TableIO
from tests.unit.streams.codec.test_table_values import folded, legacy_value
from tests.unit.streams.runtime.table_fakes import FakeProducer, flush, new_store


def result(partition: int, clock: PartitionClock | None = None, **values: Any) -> PassResult:
    return PassResult(partition, PartitionClock(), {}, org_values=dict(values), clock=clock)


def keys(producer: FakeProducer) -> list[tuple[str, int, list[bytes | None]]]:
    return [(t, p, [k for k, _ in records]) for t, p, records in producer.submitted]


def test_a_flush_sends_chunks_before_the_value_and_writes_the_store_after_the_ack() -> None:
    store, orgs, _clocks = new_store()
    slot = folded(200)
    slot.state.org_id = "a"
    for i in range(CHUNK_IDS * 2):
        slot.state.dedup[i] = slot.state.latest_time_ms or 0
    store.note(result(0, PartitionClock(10**9, None), a=slot))
    assert orgs.data.data == {} and store.load("a") is slot  # pinned, not written yet
    producer = FakeProducer(auto=False)

    async def run() -> None:
        snapshot = store.take_snapshot()
        await store.encode(snapshot)
        deliveries = await store.send(snapshot, producer)
        assert orgs.data.data == {} and len(deliveries) == 2  # orgs[0], clocks[0]
        producer.resolve_all()
        await asyncio.gather(*deliveries)
        store.write_local(snapshot)

    asyncio.run(run())
    assert keys(producer) == [
        ("app-orgs-changelog", 0, [chunk_key("a", 0), chunk_key("a", 1), b"a"]),
        ("app-clocks-changelog", 0, [b"0"]),
    ]
    assert set(orgs.data.data) == {chunk_key("a", 0), chunk_key("a", 1), b"a"}
    assert store.clock_of(0).watermark_ms == 10**9
    store.cache.clear()
    back = store.load("a")
    assert list(back.state.dedup.items()) == list(slot.state.dedup.items())
    assert back.offsets == slot.offsets


def test_orgs_of_two_partitions_go_in_one_batch_each() -> None:
    store, _orgs, _clocks = new_store()
    for org in ("a", "b", "x", "y"):
        store.note(result(0, **{org: new_slot(org)}))
    producer = FakeProducer()
    asyncio.run(flush(store, producer))
    assert sorted(keys(producer)) == [
        ("app-orgs-changelog", 0, [b"a", b"b"]),
        ("app-orgs-changelog", 1, [b"x", b"y"]),
    ]
    assert store.dirty_count() == 0 and store.flushing is None


def test_a_pass_during_a_flush_changes_the_next_flush_not_this_one() -> None:
    store, orgs, _clocks = new_store()
    slot = new_slot("a")
    slot.offsets = {"in:0": 1}
    store.note(result(0, a=slot))

    async def run() -> None:
        snapshot = store.take_snapshot()
        during = store.load("a")  # a pass touches the org before the flush encoded it
        assert during is slot
        during.offsets = {"in:0": 2}
        store.note(result(0, a=during))
        await store.encode(snapshot)
        producer = FakeProducer()
        await asyncio.gather(*await store.send(snapshot, producer))
        store.write_local(snapshot)

    asyncio.run(run())
    assert b'"in:0":1' in orgs.data.data[b"a"]  # the value as the flush began
    assert store.dirty_count() == 1  # the change of the pass waits for the next flush
    asyncio.run(flush(store, FakeProducer()))
    assert b'"in:0":2' in orgs.data.data[b"a"]


def test_chunks_a_value_stops_naming_are_deleted_by_the_next_flush() -> None:
    store, orgs, _clocks = new_store()
    slot = new_slot("a")
    slot.state.latest_time_ms = 10**9
    slot.state.dedup.update((i, 10**9) for i in range(CHUNK_IDS * 2))
    store.note(result(0, a=slot))
    asyncio.run(flush(store, FakeProducer()))
    slot.state.dedup.clear()  # every id forgotten (say, the horizon passed)
    slot.state.dedup[999] = 10**9
    store.note(result(0, a=slot))
    producer = FakeProducer()
    asyncio.run(flush(store, producer))
    assert keys(producer) == [("app-orgs-changelog", 0, [b"a"])]
    assert chunk_key("a", 0) in orgs.data.data  # the value naming none is durable only now
    producer = FakeProducer()
    asyncio.run(flush(store, producer))
    assert producer.submitted == [
        ("app-orgs-changelog", 0, [(chunk_key("a", 0), None), (chunk_key("a", 1), None)])
    ]
    assert chunk_key("a", 0) not in orgs.data.data and chunk_key("a", 1) not in orgs.data.data
    store.cache.clear()
    assert list(store.load("a").state.dedup.items()) == [(999, 10**9)]


def test_a_revoked_partition_forgets_its_dirty_values_and_pending_deletes() -> None:
    store, _orgs, _clocks = new_store()
    slot = new_slot("a")
    slot.state.latest_time_ms = 10**9
    slot.state.dedup.update((i, 10**9) for i in range(CHUNK_IDS))
    store.note(result(0, a=slot))
    asyncio.run(flush(store, FakeProducer()))
    slot.state.dedup.clear()
    store.note(result(0, a=slot))
    asyncio.run(flush(store, FakeProducer()))
    assert store.unreferenced[0]
    store.note(result(0, a=slot))
    store.forget({0})
    assert not store.unreferenced.get(0) and "a" not in store.cache
    assert store.dirty_count() == 0


def test_the_roster_is_rebuilt_from_org_values_of_either_format() -> None:
    store, orgs, _clocks = new_store()
    new = folded(100)
    new.state.org_id = "b"
    for i in range(CHUNK_IDS):
        new.state.dedup[i] = new.state.latest_time_ms or 0
    store.note(result(0, b=new, d=new_slot("d")))
    asyncio.run(flush(store, FakeProducer()))
    old = folded(100, seed=3)
    old.state.org_id = "c"
    orgs.data.data[b"c"] = legacy_value(old)
    orgs.data.data[b"zed"] = legacy_value(folded(10))  # another partition
    assert store.roster_of(0) == {"b": new.state.first_month, "c": old.state.first_month}
    assert store.roster_of(1) == {"zed": folded(10).state.first_month}
    migrated = store.load("c")
    assert list(migrated.state.dedup.items()) == list(old.state.dedup.items())
    assert migrated.state.first_time_ms == parse_time_ms("2024-01-01T00:00:00Z")


def test_a_new_process_sends_the_named_chunks_again_with_the_first_new_value() -> None:
    # A store written by an earlier worker may hold chunks whose changelog records a
    # SIGKILL lost: a new process (empty memory, same tables) sends every chunk the stored
    # value names with its first value for that org, and only then.
    writer, orgs, clocks = new_store(lambda org: 0)
    slot = new_slot("a")
    slot.state.latest_time_ms = 10**9
    slot.state.dedup.update((i, 10**9) for i in range(CHUNK_IDS * 2 + 5))
    writer.note(result(0, a=slot))
    asyncio.run(flush(writer, FakeProducer()))
    restarted = OrgStore(TableIO(orgs), TableIO(clocks), lambda org: 0)
    loaded = restarted.load("a")
    loaded.state.dedup[10**6] = 10**9
    restarted.note(result(0, a=loaded))
    producer = FakeProducer()
    asyncio.run(flush(restarted, producer))
    named = [chunk_key("a", 0), chunk_key("a", 1)]
    assert keys(producer) == [("app-orgs-changelog", 0, [*named, b"a"])]
    restarted.note(result(0, a=loaded))
    producer = FakeProducer()
    asyncio.run(flush(restarted, producer))
    assert keys(producer) == [("app-orgs-changelog", 0, [b"a"])]
    restarted.forget({0})
    restarted.note(result(0, a=restarted.load("a")))
    producer = FakeProducer()
    asyncio.run(flush(restarted, producer))
    assert keys(producer) == [("app-orgs-changelog", 0, [*named, b"a"])]
