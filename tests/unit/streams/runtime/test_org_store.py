"""OrgStore without Faust: write order (chunks, value, deletes once the value is durable),
reading an org back with its chunks, the roster scan, and format-1 values."""

from __future__ import annotations

from typing import Any

from scoring.timeutil import parse_time_ms
from streams.codec.dedup_log import CHUNK_IDS, chunk_key
from streams.codec.table_values import PartitionClock, new_slot
from streams.pipeline.pass_result import PassResult
from streams.runtime.org_store import OrgStore
from tests.unit.streams.codec.test_table_values import folded, legacy_value


class Sent:
    """A changelog send, acknowledged or not."""

    def __init__(self) -> None:
        self.acked = False

    def done(self) -> bool:
        return self.acked

    def cancelled(self) -> bool:
        return False

    def exception(self) -> BaseException | None:
        return None


class Table(dict[bytes, bytes]):
    """A Faust table as the store uses it: a mapping that logs writes and remembers the
    changelog send of its latest write."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, bytes]] = []
        self.last_changelog: Sent | None = None

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.log.append(("set", key))
        self.last_changelog = Sent()
        super().__setitem__(key, value)

    def pop(self, key: bytes, default: Any = None) -> Any:
        self.log.append(("del", key))
        return super().pop(key, default)


def store() -> tuple[OrgStore, Table]:
    orgs = Table()
    return OrgStore(orgs, {}, lambda org: 0 if org < "m" else 1), orgs


def result(partition: int, **values: Any) -> PassResult:
    return PassResult(partition, PartitionClock(), {}, org_values=dict(values))


def test_chunks_are_written_before_the_value_and_read_back_with_it() -> None:
    org_store, orgs = store()
    slot = folded(200)
    slot.state.org_id = "a"
    for i in range(CHUNK_IDS * 2):
        slot.state.dedup[i] = slot.state.latest_time_ms or 0
    org_store.write(result(0, a=slot))
    assert orgs.log == [("set", chunk_key("a", 0)), ("set", chunk_key("a", 1)), ("set", b"a")]
    org_store.cache.clear()
    back = org_store.load("a")
    assert list(back.state.dedup.items()) == list(slot.state.dedup.items())
    assert back.offsets == slot.offsets


def test_chunks_a_value_stops_naming_are_deleted_once_that_value_is_acknowledged() -> None:
    org_store, orgs = store()
    slot = new_slot("a")
    slot.state.latest_time_ms = 10**9
    slot.state.dedup.update((i, 10**9) for i in range(CHUNK_IDS * 2))
    org_store.write(result(0, a=slot))
    first_value = orgs.last_changelog
    slot.state.dedup.clear()  # every id forgotten (say, the horizon passed)
    slot.state.dedup[999] = 10**9
    org_store.write(result(0, a=slot))
    dropping = orgs.last_changelog
    assert dropping is not first_value and dropping is not None
    org_store.write(result(0))  # not acknowledged yet: the chunks stay
    assert chunk_key("a", 0) in orgs and chunk_key("a", 1) in orgs
    org_store.write(result(1))  # another partition's write does not release them
    dropping.acked = True
    assert chunk_key("a", 0) in orgs
    org_store.write(result(0))
    assert chunk_key("a", 0) not in orgs and chunk_key("a", 1) not in orgs
    org_store.cache.clear()
    assert list(org_store.load("a").state.dedup.items()) == [(999, 10**9)]


def test_a_revoked_partition_forgets_its_pending_deletes() -> None:
    org_store, _orgs = store()
    slot = new_slot("a")
    slot.state.latest_time_ms = 10**9
    slot.state.dedup.update((i, 10**9) for i in range(CHUNK_IDS))
    org_store.write(result(0, a=slot))
    slot.state.dedup.clear()
    org_store.write(result(0, a=slot))
    assert org_store.unreferenced[0]
    org_store.forget({0})
    assert not org_store.unreferenced.get(0) and "a" not in org_store.cache


def test_the_roster_is_rebuilt_from_org_values_of_either_format() -> None:
    org_store, orgs = store()
    new = folded(100)
    new.state.org_id = "b"
    for i in range(CHUNK_IDS):
        new.state.dedup[i] = new.state.latest_time_ms or 0
    org_store.write(result(0, b=new))
    old = folded(100, seed=3)
    old.state.org_id = "c"
    orgs[b"c"] = legacy_value(old)
    orgs[b"zed"] = legacy_value(folded(10))  # another partition
    empty = new_slot("d")
    org_store.write(result(0, d=empty))
    assert org_store.roster_of(0) == {"b": new.state.first_month, "c": old.state.first_month}
    assert org_store.roster_of(1) == {"zed": folded(10).state.first_month}
    migrated = org_store.load("c")
    assert list(migrated.state.dedup.items()) == list(old.state.dedup.items())
    assert migrated.state.first_time_ms == parse_time_ms("2024-01-01T00:00:00Z")


def test_a_new_process_writes_the_named_chunks_again_before_the_first_new_value() -> None:
    # The local store may hold chunks whose changelog records a SIGKILL lost: a store of
    # a new process (empty memory, same tables) re-sends every chunk the stored value
    # names before its first value for that org, and only then.
    writer, orgs = store()
    slot = new_slot("a")
    slot.state.latest_time_ms = 10**9
    slot.state.dedup.update((i, 10**9) for i in range(CHUNK_IDS * 2 + 5))
    writer.write(result(0, a=slot))
    restarted = OrgStore(orgs, {}, lambda org: 0)
    orgs.log.clear()
    loaded = restarted.load("a")
    loaded.state.dedup[10**6] = 10**9
    restarted.write(result(0, a=loaded))
    named = [("set", chunk_key("a", 0)), ("set", chunk_key("a", 1))]
    assert orgs.log == [*named, ("set", b"a")]
    orgs.log.clear()
    restarted.write(result(0, a=loaded))
    assert orgs.log == [("set", b"a")]
    restarted.forget({0})
    orgs.log.clear()
    restarted.write(result(0, a=restarted.load("a")))
    assert orgs.log == [*named, ("set", b"a")]
