"""In-process cost of one org's table write: the heavy-org phase's ``heavy_org_flush_us``.

The worker writes an org's whole value (``streams.codec.table_values.encode_slot``, via
``streams.runtime.org_store.OrgStore.write``) after every pass that touched the org, so an
org holding a full dedup memory pays for all of it on every event. ``org_value_from_lines``
folds input records into an org value as the scoring pass does, ``encode_us`` times one
encode. Both are kept here, small, so that a change of the value's encoding changes only
this module.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

from scoring.compiled import CompiledCatalog, compile_catalog
from scoring.events import Event
from scoring.fold import DEFAULT_DEDUP_HORIZON_MS, prune
from streams.codec.catalog import load_catalog
from streams.codec.decoding import decode_record
from streams.codec.table_values import OrgSlot, encode_slot, new_slot
from streams.pipeline.org_records import apply_org_record

SOURCE = "bench-heavy:0"


def org_value_from_lines(
    org: str, records: Sequence[Sequence[bytes]], now_ms: int | None = None
) -> OrgSlot:
    """The value of ``org`` after the worker applied ``records`` (each a list of event
    lines of one input record) in order, pruned after each as the worker's pass does."""
    slot = new_slot(org)
    apply_lines(slot, records, 0, now_ms)
    return slot


def apply_lines(
    slot: OrgSlot, records: Sequence[Sequence[bytes]], first_offset: int, now_ms: int | None
) -> None:
    """Apply ``records`` to ``slot`` at input offsets from ``first_offset``, as the pass."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    compiled = _compiled()
    for offset, lines in enumerate(records, start=first_offset):
        events: list[Event] = []
        for line in lines:
            events.extend(event for _, event in decode_record(line, now).events)
        apply_org_record(
            compiled, slot, SOURCE, offset, events, dedup_horizon_ms=DEFAULT_DEDUP_HORIZON_MS
        )
        prune(slot.state, dedup_horizon_ms=DEFAULT_DEDUP_HORIZON_MS)


_COMPILED: list[CompiledCatalog] = []


def _compiled() -> CompiledCatalog:
    if not _COMPILED:
        _COMPILED.append(compile_catalog(load_catalog(None)))
    return _COMPILED[0]


def written_bytes(write: object) -> int:
    """Bytes one encoded write puts in the table: the value, or, when the encoder returns
    the value with the dedup chunks it sealed (an encoding that keeps the dedup memory in
    chunks beside the value: ``.value`` and ``.dedup.sealed``), the value and those chunks."""
    if isinstance(write, bytes):
        return len(write)
    value = getattr(write, "value", b"")
    sealed = getattr(getattr(write, "dedup", None), "sealed", ())
    return len(value) + sum(len(chunk) for _, chunk in sealed)


def encode_us(slot: OrgSlot, next_lines: Sequence[bytes], first_offset: int) -> tuple[float, int]:
    """(median microseconds, median bytes) of one table write of ``slot``, each after one
    more event of ``next_lines`` was applied (untimed), as the worker writes after a pass;
    the first write (which may carry the whole dedup memory of a value never written) is
    left out."""
    encode_slot(slot)
    times = []
    sizes = []
    for index, line in enumerate(next_lines):
        apply_lines(slot, [[line]], first_offset + index, None)
        began = time.perf_counter()
        write = encode_slot(slot)
        times.append((time.perf_counter() - began) * 1e6)
        sizes.append(written_bytes(write))
    return statistics.median(times), int(statistics.median(sizes))
