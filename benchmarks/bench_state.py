"""Benchmark of an org's state write: what one new event costs to write, for a heavy org
(the ``bench_fold`` org with a full history, plus 20,000 dedup ids spread over the last
24 h) and for the same org remembering 100 ids, in the format before (one JSON value, the
dedup ids base64 inside) and now (``streams.codec.table_values``: binary header, dedup
tail, JSON; sealed dedup chunks under their own keys).

Printed per case: the uncompressed changelog bytes the write produces (keys + values of
every record: the org value, sealed chunks, chunk tombstones) and the encode time (the
median of 5 runs of 200 writes, each after one new event; the ids fold, the write encode).
Targets: heavy-org bytes <= 1.1x the 100-id org's; encode <= 150 us.
Also printed: the mean bytes per write over 1,000 consecutive one-event writes (chunk
seals included).
Run: ``.venv/bin/python benchmarks/bench_state.py``.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable

import orjson
from bench_fold import make_events

from scoring.compiled import CompiledCatalog, compile_catalog
from scoring.events import Event
from scoring.fold import DEFAULT_DEDUP_HORIZON_MS, MAX_DEDUP_IDS, apply_event, prune
from scoring.state import state_to_dict
from scoring.timeutil import HOUR_MS
from streams.codec.catalog import load_catalog
from streams.codec.dedup_log import chunk_key
from streams.codec.table_values import OrgSlot, encode_slot, new_slot

H = DEFAULT_DEDUP_HORIZON_MS
ORG = "org-1"
WRITES = 200
RUNS = 5


def old_format(slot: OrgSlot) -> bytes:
    """The org value as written before: JSON with the dedup ids base64 inside."""
    return orjson.dumps(
        {
            "v": 1,
            "state": state_to_dict(slot.state),
            "offsets": slot.offsets,
            "revisions": {str(m): r for m, r in slot.revisions.items()},
            "live_owed": slot.live_owed,
        }
    )


def new_format_bytes(slot: OrgSlot) -> int:
    write = encode_slot(slot)
    key = len(ORG.encode())
    size = key + len(write.value)
    size += sum(len(chunk_key(ORG, seq)) + len(chunk) for seq, chunk in write.dedup.sealed)
    size += sum(len(chunk_key(ORG, seq)) for seq in write.dedup.dropped)
    return size


def heavy_org(compiled: CompiledCatalog, ids: int) -> tuple[OrgSlot, int]:
    """The bench_fold org (a two-year history), then ``ids`` events spread over the 24 h
    after it, so the dedup memory holds ``ids`` ids."""
    slot = new_slot(ORG)
    history = make_events(50_000)
    for event in history:
        apply_event(compiled, slot.state, event, dedup_horizon_ms=H)
    start = history[-1].time_ms + H + 1  # the history's own ids have expired
    step = (24 * HOUR_MS - 60_000) // ids
    for i in range(ids):
        event = Event("case.created", ORG, "recent", f"r{i}", start + i * step, {})
        apply_event(compiled, slot.state, event, dedup_horizon_ms=H)
    prune(slot.state, dedup_horizon_ms=H)
    slot.offsets = {"telemetry:0": 123_456}
    return slot, start + ids * step


def one_event(compiled: CompiledCatalog, slot: OrgSlot, n: int, time_ms: int) -> None:
    event = Event("case.created", ORG, "new", f"n{n}", time_ms, {"product": "service_cloud"})
    apply_event(compiled, slot.state, event, dedup_horizon_ms=H)
    prune(slot.state, dedup_horizon_ms=H)


def measure(
    compiled: CompiledCatalog, base: OrgSlot, now_ms: int, write: Callable[[OrgSlot], object]
) -> float:
    """Median over RUNS of the mean encode time of WRITES one-event writes (µs)."""
    runs = []
    for run in range(RUNS):
        slot = copy.deepcopy(base)
        write(slot)  # the org as loaded and written once: its history is in the table
        total = 0.0
        for i in range(WRITES):
            one_event(compiled, slot, run * WRITES + i, now_ms + run * WRITES + i)
            began = time.perf_counter()
            write(slot)
            total += time.perf_counter() - began
        runs.append(total / WRITES * 1e6)
    return statistics.median(runs)


def single_write_bytes(
    compiled: CompiledCatalog, base: OrgSlot, now_ms: int, size: Callable[[OrgSlot], int]
) -> tuple[int, float]:
    """(bytes of the write after one new event, mean bytes per write over 1,000)."""
    slot = copy.deepcopy(base)
    size(slot)
    one_event(compiled, slot, 0, now_ms)
    first = size(slot)
    sizes = []
    for i in range(1, 1001):
        one_event(compiled, slot, i, now_ms + i)
        sizes.append(size(slot))
    return first, statistics.mean(sizes)


def main() -> None:
    compiled = compile_catalog(load_catalog(None))
    results: dict[tuple[str, int], tuple[int, float, float]] = {}
    for ids in (100, MAX_DEDUP_IDS):
        base, now_ms = heavy_org(compiled, ids)
        assert len(base.state.dedup) == ids
        for label, write, size in (
            ("old", old_format, lambda s: len(ORG) + len(old_format(s))),
            ("new", encode_slot, new_format_bytes),
        ):
            first, mean = single_write_bytes(compiled, base, now_ms, size)
            micros = measure(compiled, base, now_ms, write)
            results[(label, ids)] = (first, mean, micros)
    header = ("format", "dedup ids", "bytes/write", "mean of 1000", "encode us")
    print("{:6} {:>9} {:>12} {:>13} {:>10}".format(*header))
    for (label, ids), (first, mean, micros) in results.items():
        print(f"{label:6} {ids:>9} {first:>12,} {mean:>13,.0f} {micros:>10.1f}")
    for label in ("old", "new"):
        heavy, light = results[(label, MAX_DEDUP_IDS)], results[(label, 100)]
        print(
            f"{label}: heavy/100-id bytes {heavy[0] / light[0]:.2f}x "
            f"(mean {heavy[1] / light[1]:.2f}x), encode {heavy[2]:.0f} us"
        )


if __name__ == "__main__":
    main()
