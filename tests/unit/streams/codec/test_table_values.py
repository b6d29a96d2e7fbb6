"""Org values (format 2: binary header, dedup tail, JSON; format 1 still read) and the
per-signal encoding cache."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import orjson
import pytest

from scoring.compiled import compile_catalog
from scoring.fold import DEFAULT_DEDUP_HORIZON_MS, apply_event, prune
from scoring.state import state_to_dict
from scoring.timeutil import month_of
from streams.codec.catalog import load_catalog
from streams.codec.dedup_log import CHUNK_IDS
from streams.codec.table_values import (
    OrgSlot,
    decode_slot,
    encode_slot,
    first_month_of,
    new_slot,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "benchmarks"))
from bench_fold import make_events

COMPILED = compile_catalog(load_catalog(None))
H = DEFAULT_DEDUP_HORIZON_MS


def folded(count: int, seed: int = 7) -> OrgSlot:
    slot = new_slot("org-1")
    for event in make_events(count, seed):
        apply_event(COMPILED, slot.state, event, dedup_horizon_ms=H)
    prune(slot.state, dedup_horizon_ms=H)
    slot.offsets = {"telemetry:0": 41}
    slot.revisions = {month_of(slot.state.latest_time_ms or 0) - 1: 2}
    slot.live_owed = True
    return slot


def stored(slot: OrgSlot, table: dict[int, bytes]) -> bytes:
    write = encode_slot(slot)
    table.update(write.dedup.sealed)
    for seq in write.dedup.dropped:
        del table[seq]
    return write.value


def legacy_value(slot: OrgSlot) -> bytes:
    """An org value as workers wrote it before format 2 (JSON, dedup ids inside)."""
    return orjson.dumps(
        {
            "v": 1,
            "state": state_to_dict(slot.state),
            "offsets": slot.offsets,
            "revisions": {str(m): r for m, r in slot.revisions.items()},
            "live_owed": slot.live_owed,
        }
    )


def same(a: OrgSlot, b: OrgSlot) -> None:
    assert state_to_dict(a.state) == state_to_dict(b.state)
    assert list(a.state.dedup.items()) == list(b.state.dedup.items())
    assert (a.offsets, a.revisions, a.live_owed) == (b.offsets, b.revisions, b.live_owed)


def test_a_value_round_trips_with_its_chunks() -> None:
    slot = folded(3000)
    for i in range(300):  # ids beyond one chunk, all within the horizon
        slot.state.dedup[10_000 + i] = slot.state.latest_time_ms or 0
    table: dict[int, bytes] = {}
    value = stored(slot, table)
    assert value[:1] == b"\x02" and len(table) == (len(slot.state.dedup)) // CHUNK_IDS
    back = decode_slot(value, table.get)
    same(back, slot)
    assert stored(back, table) == value  # nothing new: the same bytes, no chunk written


def test_a_format_1_value_is_read_and_rewritten_as_format_2_on_its_next_write() -> None:
    slot = folded(3000)
    for i in range(200):
        slot.state.dedup[10_000 + i] = slot.state.latest_time_ms or 0
    old = legacy_value(slot)
    migrated = decode_slot(old, lambda seq: pytest.fail("format 1 has no chunks"))
    same(migrated, slot)
    assert first_month_of(old) == slot.state.first_month
    table: dict[int, bytes] = {}
    value = stored(migrated, table)
    assert b"dedup" in old and len(value) < len(old) and len(table) == 211 // CHUNK_IDS
    same(decode_slot(value, table.get), slot)


def test_unknown_versions_are_refused() -> None:
    with pytest.raises(ValueError, match="version"):
        decode_slot(b'{"v": 7}', lambda seq: None)
    with pytest.raises(ValueError, match="version"):
        decode_slot(b"\x09" + bytes(6) + b"{}", lambda seq: None)


def test_the_first_month_is_read_from_the_header() -> None:
    assert first_month_of(encode_slot(new_slot("x")).value) is None
    slot = folded(50)
    assert first_month_of(encode_slot(slot).value) == slot.state.first_month


def test_cached_signal_encodings_always_equal_a_fresh_encoding() -> None:
    """The cache is reused across events, prunes that move the cutoff month, and prunes
    that only shorten the exact times of binary indicators."""
    rng = random.Random(5)
    events = make_events(4000, seed=11)
    slot = new_slot("org-1")
    table: dict[int, bytes] = {}
    position = 0
    while position < len(events):
        step = rng.choice([1, 1, 2, 30, 400])
        for event in events[position : position + step]:
            apply_event(COMPILED, slot.state, event, dedup_horizon_ms=H)
        position += step
        prune(slot.state, dedup_horizon_ms=H)
        value = stored(slot, table)
        tail_length = int.from_bytes(value[5:7], "little")
        written = orjson.loads(value[7 + tail_length :])["state"]["signals"]
        assert written == state_to_dict(slot.state)["signals"]
