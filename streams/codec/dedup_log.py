"""An org's dedup memory as the worker stores it: an append-only log of packed entries,
outside the org's JSON value, so a write costs what changed, not the org's history.

An entry is 16 bytes: the signed 64-bit id hash and the stored stream time
(``scoring.state.pack_dedup``), in acceptance order. The log is split into

- sealed **chunks** of ``CHUNK_IDS`` entries, each its own key in the ``orgs`` table
  (``chunk_key``), written once and never changed, and
- the **tail**: the fewer than ``CHUNK_IDS`` newest entries, carried inside the org value.

The org value names the chunks it reads (``base`` .. ``next - 1``) and the number ``n`` of
ids it remembers: the dedup memory is exactly the last ``n`` entries of that log. Why that
holds: the fold appends an entry per accepted id (a re-accepted id is moved to the end, which
it may be only once its older copy has expired) and forgets only the oldest ids (the
20,000-id cap and the horizon prune), so what it remembers is always a suffix of the log, and
a superseded copy is expired, hence older than every id still remembered.

A write (``sync``) appends the ids accepted since the last write to the tail, seals full
chunks (written before the value that names them) and stops naming the oldest chunks once
they hold only forgotten ids (``dropped``: deleted only once the value that stopped naming
them is durable, see ``streams.runtime.org_store``). A value therefore never names a chunk
that a crash can have left unwritten or deleted; the crash-safety argument is in
docs/architecture.md ("Tables").
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import dataclass, field

from scoring.state import pack_dedup, unpack_dedup

CHUNK_IDS = 64
ENTRY_BYTES = 16
CHUNK_BYTES = CHUNK_IDS * ENTRY_BYTES
CHUNK_KEY_PREFIX = b"\xff"  # never the first byte of UTF-8 text: no org id starts with it


class DedupLogError(ValueError):
    """The chunks an org value names are missing or do not match it."""


@dataclass(slots=True)
class DedupLog:
    """Where one org's dedup memory lives (kept next to its decoded state)."""

    base: int = 0  # seq of the oldest chunk the value names
    next: int = 0  # seq of the next chunk to seal
    tail: bytearray = field(default_factory=bytearray)
    # The newest entry already written (None: nothing written yet, or a value of the
    # format that kept the ids inside its JSON): the ids after it are new.
    last: tuple[int, int] | None = None

    def entries(self) -> int:
        return (self.next - self.base) * CHUNK_IDS + len(self.tail) // ENTRY_BYTES


@dataclass(slots=True)
class DedupWrites:
    """What one write of an org adds and frees, besides its value."""

    sealed: list[tuple[int, bytes]] = field(default_factory=list)  # (seq, chunk): write first
    dropped: list[int] = field(default_factory=list)  # seqs to delete once the value is durable


def chunk_key(org: str, seq: int) -> bytes:
    """Table key of an org's chunk: a prefix no org key has, the org, a 4-byte seq (the
    fixed-size suffix keeps two orgs' keys apart)."""
    return CHUNK_KEY_PREFIX + org.encode() + seq.to_bytes(4, "big")


def is_chunk_key(key: bytes) -> bool:
    return key[:1] == CHUNK_KEY_PREFIX


def new_entries(log: DedupLog, dedup: OrderedDict[int, int]) -> int:
    """How many of the newest remembered ids are not in the log yet: those after its last
    entry, or all of them when that entry is forgotten (then so is every older one)."""
    last = log.last
    if last is None:
        return len(dedup)
    count = 0
    for key, stored in reversed(dedup.items()):
        if key == last[0] and stored == last[1]:
            return count
        count += 1
    return count


def sync(log: DedupLog, dedup: OrderedDict[int, int]) -> DedupWrites:
    """Bring ``log`` up to ``dedup`` (the org's pruned dedup memory, about to be written)."""
    writes = DedupWrites()
    fresh = new_entries(log, dedup)
    if fresh:
        if fresh < len(dedup):
            newest = list(itertools.islice(reversed(dedup.items()), fresh))
            newest.reverse()
            log.tail += pack_dedup(newest)
        else:
            log.tail += pack_dedup(dedup.items())
        log.last = next(reversed(dedup.items()))
    tail = log.tail
    while len(tail) >= CHUNK_BYTES:
        writes.sealed.append((log.next, bytes(tail[:CHUNK_BYTES])))
        del tail[:CHUNK_BYTES]
        log.next += 1
    forgotten = log.entries() - len(dedup)  # a prefix of the log
    while forgotten >= CHUNK_IDS and log.base < log.next:
        if writes.sealed and writes.sealed[0][0] == log.base:
            writes.sealed.pop(0)  # sealed and forgotten in one write: never written
        else:
            writes.dropped.append(log.base)
        log.base += 1
        forgotten -= CHUNK_IDS
    if log.base == log.next and forgotten > 0:
        del tail[: forgotten * ENTRY_BYTES]
    return writes


def restore(log: DedupLog, chunks: list[bytes | None], remembered: int) -> OrderedDict[int, int]:
    """The dedup memory of a value naming ``log`` and remembering ``remembered`` ids, given
    the chunks ``log.base .. log.next - 1`` as the table holds them (None: missing)."""
    if len(chunks) != log.next - log.base:
        raise DedupLogError(f"{len(chunks)} chunks given for {log.next - log.base}")
    for seq, chunk in zip(range(log.base, log.next), chunks, strict=True):
        if chunk is None or len(chunk) != CHUNK_BYTES:
            raise DedupLogError(f"dedup chunk {seq} is missing or malformed")
    packed = b"".join([*(c for c in chunks if c is not None), log.tail])
    if remembered * ENTRY_BYTES > len(packed):
        raise DedupLogError(f"{remembered} ids remembered but {len(packed) // 16} stored")
    if packed:
        log.last = unpack_dedup(packed[-ENTRY_BYTES:]).popitem()  # (hash, stored)
    dedup = unpack_dedup(packed[len(packed) - remembered * ENTRY_BYTES :])
    if len(dedup) != remembered:
        raise DedupLogError("the remembered dedup ids repeat an id")
    return dedup
