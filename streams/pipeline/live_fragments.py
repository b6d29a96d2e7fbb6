"""Live records serialised from cached fragments: the bytes of
``orjson.dumps(live_record(compiled, state))``, built without the record dict.

A live record is made of parts (``scoring.record``), each a function of few inputs; the
serialised form of each part is cached under those inputs and re-serialised only when
they change, and the record is assembled around them with ``orjson.Fragment``:

- each signal's entry, under the signal's result: by identity first (the live and
  per-signal memos of ``scoring.evaluation`` hand the same result object back while it is
  unchanged), then by value (equal results share bytes, across orgs too); not-applicable
  entries are one constant per signal;
- ``overall`` and ``categories``, under the scores (``Evaluation.derived``, one object per
  distinct scores of the catalog);
- ``trending``, ``recommendations`` and ``explain``, under the scores and those of the
  month before;
- ``schema`` .. ``catalog`` are serialised each time (small; ``as_of`` moves).

Every cache is bounded (least recently used entries go first), so memory does not grow
with orgs x signals. One :class:`LiveRecordEncoder` serves one compiled catalog.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, TypeVar

import orjson

from scoring.compiled import CompiledCatalog
from scoring.evaluation import Derived, Evaluation
from scoring.kinds import KindResult
from scoring.record import (
    live_evaluations,
    record_changes,
    record_head,
    record_standing,
    signal_entry,
)
from scoring.state import OrgState

# Bounds: results by identity and by value (a few per signal and org), derived parts.
MAX_RESULTS = 16_384
MAX_DERIVED_PARTS = 4_096

K = TypeVar("K")
V = TypeVar("V")

_Fragment = orjson.Fragment
_dumps = orjson.dumps


class LruCache(OrderedDict[K, V]):
    """An ordered dict that forgets its least recently used entry beyond ``bound``
    entries: readers call ``get`` then ``move_to_end`` on a hit (inline, as the hot
    paths below do), writers call :meth:`put`."""

    def __init__(self, bound: int) -> None:
        super().__init__()
        self.bound = bound

    def put(self, key: K, value: V) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.bound:
            self.popitem(last=False)


# Cached parts. Identity-keyed entries hold the keyed objects, so an id is never reused
# while its entry exists.
_ResultEntry = tuple[KindResult, int, bytes]  # (result, signal index, entry bytes)
_ArrayEntry = tuple[list[KindResult | None], orjson.Fragment]
_StandingEntry = tuple[Derived, orjson.Fragment, orjson.Fragment, dict[str, Any]]
_ChangesEntry = tuple[Derived, Derived | None, orjson.Fragment, orjson.Fragment, orjson.Fragment]


def _value_key(index: int, result: KindResult) -> tuple[object, ...]:
    """A signal's result by value. Types are part of the key: ``False == 0`` and
    ``True == 1`` in Python, but they serialise differently."""
    score, inputs, projected = result
    values = tuple(inputs.values())
    return (index, score, projected, tuple(inputs), values, tuple(map(type, values)))


class LiveRecordEncoder:
    """``encode(state)`` is ``orjson.dumps(live_record(compiled, state))``, from cached
    fragments (module docstring)."""

    def __init__(
        self,
        compiled: CompiledCatalog,
        *,
        max_results: int = MAX_RESULTS,
        max_derived: int = MAX_DERIVED_PARTS,
    ) -> None:
        self.compiled = compiled
        self.plan = compiled.record
        self.by_identity: LruCache[int, _ResultEntry] = LruCache(max_results)
        self.by_value: LruCache[tuple[object, ...], bytes] = LruCache(max_results)
        self.arrays: LruCache[int, _ArrayEntry] = LruCache(max_derived)
        self.standing: LruCache[int, _StandingEntry] = LruCache(max_derived)
        self.changes: LruCache[tuple[int, int], _ChangesEntry] = LruCache(max_derived)
        self.not_applicable: list[bytes | None] = [None] * len(self.plan.signals)

    def encode(self, state: OrgState, *, revision: int = 0) -> bytes:
        """The live record of ``state``, serialised (raises ``ScoringError`` for an org
        with no accepted event, as ``live_record`` does)."""
        return self.encode_parts(state, revision=revision)[0]

    def encode_parts(self, state: OrgState, *, revision: int = 0) -> tuple[bytes, dict[str, Any]]:
        """The serialised live record, and its ``overall`` and ``categories`` as a dict
        (what the worker's band metrics read; shared between records: never mutate it)."""
        plan = self.plan
        current, previous = live_evaluations(self.compiled, state)
        record = record_head(plan, state, current.ctx, "live", revision)
        _derived, record["overall"], record["categories"], standing = self._standing(current)
        record["signals"] = self._signals_array(current)
        trending, recommendations, explain = self._changes(current, previous)
        record["trending"] = trending
        record["recommendations"] = recommendations
        record["explain"] = explain
        return _dumps(record), standing

    def clear(self) -> None:
        """Forget every cached fragment (e.g. for a benchmark's cold figures)."""
        self.by_identity.clear()
        self.by_value.clear()
        self.arrays.clear()
        self.standing.clear()
        self.changes.clear()

    # --- parts -------------------------------------------------------------------------------

    def _signals_array(self, current: Evaluation) -> orjson.Fragment:
        """The ``signals`` array, under the ``results`` list (shared by the evaluations
        of an org while none of its signals' results changes)."""
        results = current.results
        key = id(results)
        entry = self.arrays.get(key)
        if entry is not None and entry[0] is results:
            self.arrays.move_to_end(key)
            return entry[1]
        array = _Fragment(b"[" + b",".join(self._signals(current)) + b"]")
        self.arrays.put(key, (results, array))
        return array

    def _signals(self, current: Evaluation) -> list[bytes]:
        not_applicable = self.not_applicable
        by_identity = self.by_identity
        parts: list[bytes] = []
        append = parts.append
        for index, result in enumerate(current.results):
            if result is None:
                data = not_applicable[index]
                if data is None:  # the same for every org: the signal's constant fields
                    data = not_applicable[index] = _dumps(signal_entry(self.plan, current, index))
                append(data)
                continue
            key = id(result)
            entry = by_identity.get(key)
            if entry is not None and entry[0] is result and entry[1] == index:
                by_identity.move_to_end(key)
                append(entry[2])
                continue
            append(self._signal_bytes(current, index, result))
        return parts

    def _signal_bytes(self, current: Evaluation, index: int, result: KindResult) -> bytes:
        key = _value_key(index, result)
        data = self.by_value.get(key)
        if data is not None:
            self.by_value.move_to_end(key)
        else:
            data = _dumps(signal_entry(self.plan, current, index))
            self.by_value.put(key, data)
        self.by_identity.put(id(result), (result, index, data))
        return data

    def _standing(self, current: Evaluation) -> _StandingEntry:
        derived = current.derived
        key = id(derived)
        entry = self.standing.get(key)
        if entry is not None and entry[0] is derived:
            self.standing.move_to_end(key)
        else:
            standing = record_standing(self.plan, current)
            entry = (
                derived,
                _Fragment(_dumps(standing["overall"])),
                _Fragment(_dumps(standing["categories"])),
                standing,
            )
            self.standing.put(key, entry)
        return entry

    def _changes(
        self, current: Evaluation, previous: Evaluation | None
    ) -> tuple[orjson.Fragment, orjson.Fragment, orjson.Fragment]:
        derived = current.derived
        before = None if previous is None else previous.derived
        key = (id(derived), id(before))
        entry = self.changes.get(key)
        if entry is not None and entry[0] is derived and entry[1] is before:
            self.changes.move_to_end(key)
        else:
            changes: dict[str, Any] = record_changes(self.plan, current, previous)
            entry = (
                derived,
                before,
                _Fragment(_dumps(changes["trending"])),
                _Fragment(_dumps(changes["recommendations"])),
                _Fragment(_dumps(changes["explain"])),
            )
            self.changes.put(key, entry)
        return entry[2], entry[3], entry[4]
