"""The dedup log: an org's dedup memory as sealed chunks plus an inline tail, written
incrementally, read back exactly (order included), bounded, and rejected when incomplete."""

from __future__ import annotations

import random
from collections import OrderedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring import fold
from scoring.compiled import compile_catalog
from scoring.events import Event
from scoring.fold import apply_event, prune
from scoring.state import OrgState
from streams.codec.catalog import load_catalog
from streams.codec.dedup_log import (
    CHUNK_BYTES,
    CHUNK_IDS,
    DedupLog,
    DedupLogError,
    chunk_key,
    is_chunk_key,
    restore,
    sync,
)

COMPILED = compile_catalog(load_catalog(None))

HORIZON = 1_000


class Table:
    """Chunks as the ``orgs`` table holds them (deletes applied at once)."""

    def __init__(self) -> None:
        self.chunks: dict[int, bytes] = {}

    def write(self, log: DedupLog, dedup: OrderedDict[int, int]) -> None:
        writes = sync(log, dedup)
        for seq, chunk in writes.sealed:
            assert seq not in self.chunks  # chunks are written once
            self.chunks[seq] = chunk
        for seq in writes.dropped:
            del self.chunks[seq]

    def read(self, log: DedupLog, remembered: int) -> OrderedDict[int, int]:
        copy = DedupLog(base=log.base, next=log.next, tail=bytearray(log.tail))
        chunks = [self.chunks.get(seq) for seq in range(copy.base, copy.next)]
        return restore(copy, chunks, remembered)


def _fold(state: OrgState, ids: list[int], times: list[int]) -> None:
    for event_id, time_ms in zip(ids, times, strict=True):
        event = Event("case.created", "org-1", "s", str(event_id), time_ms, {})
        apply_event(COMPILED, state, event, dedup_horizon_ms=HORIZON)


@settings(max_examples=60, deadline=None)
@given(
    passes=st.lists(
        st.lists(st.tuples(st.integers(0, 300), st.integers(0, 400)), max_size=150),
        min_size=1,
        max_size=12,
    )
)
def test_the_log_reads_back_the_dedup_memory_after_every_write(
    passes: list[list[tuple[int, int]]],
) -> None:
    """Repeats, re-acceptance after expiry, the cap and the horizon prune, in any mix."""
    state, log, table = OrgState("org-1"), DedupLog(), Table()
    clock = 0
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fold, "MAX_DEDUP_IDS", 100)
        for events in passes:
            ids = [event_id for event_id, _ in events]
            times = [clock + step for _, step in events]
            clock += 300
            _fold(state, ids, times)
            prune(state, dedup_horizon_ms=HORIZON)
            table.write(log, state.dedup)
            restored = table.read(log, len(state.dedup))
            assert list(restored.items()) == list(state.dedup.items())
            # Only chunks holding a remembered id are kept: at most one forgotten chunk.
            assert log.entries() - len(state.dedup) < CHUNK_IDS
            assert len(table.chunks) == log.next - log.base <= 100 // CHUNK_IDS + 2


def test_a_write_with_nothing_new_seals_and_drops_nothing() -> None:
    state, log, table = OrgState("org-1"), DedupLog(), Table()
    _fold(state, list(range(200)), list(range(200)))
    table.write(log, state.dedup)
    assert log.next == 200 // CHUNK_IDS and len(log.tail) == (200 % CHUNK_IDS) * 16
    again = sync(log, state.dedup)
    assert not again.sealed and not again.dropped


def test_a_large_write_never_writes_a_chunk_it_forgets_at_once() -> None:
    state, log = OrgState("org-1"), DedupLog()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fold, "MAX_DEDUP_IDS", 100)
        _fold(state, list(range(1000)), list(range(1000)))
    writes = sync(log, state.dedup)
    assert not writes.dropped
    assert [seq for seq, _ in writes.sealed] == list(range(log.base, log.next))
    assert log.entries() - len(state.dedup) < CHUNK_IDS


def test_a_missing_or_foreign_chunk_is_an_error_not_a_smaller_memory() -> None:
    state, log, table = OrgState("org-1"), DedupLog(), Table()
    _fold(state, list(range(150)), list(range(150)))
    table.write(log, state.dedup)
    del table.chunks[log.base]
    with pytest.raises(DedupLogError, match="missing"):
        table.read(log, len(state.dedup))
    with pytest.raises(DedupLogError):
        restore(DedupLog(tail=bytearray(log.tail)), [], len(state.dedup))
    repeated = DedupLog(next=1)
    with pytest.raises(DedupLogError, match="repeat"):
        restore(repeated, [b"\x01" * CHUNK_BYTES], CHUNK_IDS)


def test_chunk_keys_are_distinct_from_org_keys_and_from_each_other() -> None:
    rng = random.Random(3)
    orgs = ["a", "ab", "a\x00", "ü", "org-1", "x" * 40]
    keys = {chunk_key(org, rng.randrange(2**32)) for org in orgs for _ in range(50)}
    assert all(is_chunk_key(key) for key in keys)
    assert not any(is_chunk_key(org.encode()) for org in orgs)
    assert len({chunk_key(org, seq) for org in orgs for seq in range(300)}) == 6 * 300
