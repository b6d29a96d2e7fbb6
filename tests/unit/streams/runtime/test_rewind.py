"""The commit rule of ``streams/rewind.py``: never past the first unprocessed offset.

The consumer is built without a Faust app (``object.__new__``) and given only the
bookkeeping Faust's ``_new_offset`` reads, so these tests pin the commit decision itself.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import pytest
from faust.types import TP
from intervaltree import IntervalTree

from streams.runtime import rewind

SOURCE = "app-events"
OTHER = "app-other"


async def _no_flush() -> None:
    return None


def consumer(
    committed: int | None = None, start: int | None = None, before_commit: Any = _no_flush
) -> Any:
    cls = rewind.rewinding_consumer([SOURCE], before_commit)
    made: Any = object.__new__(cls)
    made._gap = defaultdict(IntervalTree)
    made._acked = defaultdict(list)
    made._acked_index = defaultdict(set)
    made._committed_offset = defaultdict(lambda: None)
    made._start_offsets = {}
    made._expected = {}
    made._rereading = {}
    made._head_stalled_since = {}
    made.scheduled = []
    made._schedule_read_again = lambda tp, offset: made.scheduled.append((tp, offset))
    tp = TP(SOURCE, 0)
    if committed is not None:
        made._committed_offset[tp] = committed
    if start is not None:
        made.note_start(tp, start)
    return made


def ack(made: Any, tp: TP, *offsets: int) -> None:
    for offset in offsets:
        made._acked[tp].append(offset)
        made._acked_index[tp].add(offset)


def test_no_commit_past_an_unprocessed_first_record_of_a_new_group() -> None:
    made = consumer(start=0)
    tp = TP(SOURCE, 0)
    ack(made, tp, 1, 2)  # offset 0 was dropped, 1 and 2 processed
    assert made._new_offset(tp) is None
    ack(made, tp, 0)  # read again and processed
    assert made._new_offset(tp) == 3


def test_no_commit_past_a_single_missing_record_after_a_commit() -> None:
    # Faust's own rule lets a gap of one through: committed 10 (next to read), acked 11.
    made = consumer(committed=10)
    tp = TP(SOURCE, 0)
    ack(made, tp, 11, 12)
    assert made._new_offset(tp) is None
    ack(made, tp, 10)
    assert made._new_offset(tp) == 13


def test_consecutive_records_from_the_head_commit_as_before() -> None:
    made = consumer(committed=5)
    tp = TP(SOURCE, 0)
    ack(made, tp, 5, 6, 7, 9)
    assert made._new_offset(tp) == 8


def test_other_topics_keep_fausts_rule() -> None:
    made = consumer()
    tp = TP(OTHER, 0)
    made._committed_offset[tp] = 10
    ack(made, tp, 11, 12)
    assert made._new_offset(tp) == 13  # Faust's behaviour, untouched


def test_a_stalled_head_is_read_again_after_the_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(rewind.time, "monotonic", lambda: clock[0])
    made = consumer(start=0)
    tp = TP(SOURCE, 0)
    ack(made, tp, 1)
    assert made._new_offset(tp) is None
    clock[0] += rewind.HEAD_STALL_SECONDS / 2
    assert made._new_offset(tp) is None
    assert made.scheduled == []
    clock[0] += rewind.HEAD_STALL_SECONDS
    assert made._new_offset(tp) is None
    assert made.scheduled == [(tp, 0)]
    made.note_start(tp, 0)  # the seek back
    ack(made, tp, 0)
    assert made._new_offset(tp) == 2


class _Thread:
    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.seeks: list[tuple[TP, int]] = []

    async def seek_back(self, tp: TP, offset: int) -> None:
        if self.fail:
            raise RuntimeError("partition not assigned")
        self.seeks.append((tp, offset))


@pytest.mark.parametrize("offset", [0, 7])
def test_reading_again_seeks_and_resets_the_read_offset(offset: int) -> None:
    made = consumer()
    tp = TP(SOURCE, 0)
    made._thread = _Thread(fail=False)
    made._read_offset = {tp: 42}
    asyncio.run(made._read_again_from(tp, offset))
    assert made._thread.seeks == [(tp, offset)]
    # Faust drops fetched records below its read offset: it must not stay at 42.
    assert made._read_offset[tp] == (offset or None)


def test_a_failed_seek_back_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    made = consumer()
    tp = TP(SOURCE, 0)
    made._thread = _Thread(fail=True)
    made._read_offset = {tp: 42}
    made._rereading[tp] = 3
    asyncio.run(made._read_again_from(tp, 3))
    assert made._read_offset[tp] == 42
    assert tp not in made._rereading  # a later hole at 3 schedules a read again
    assert "could not read again from 3" in caplog.text


class _Ends:
    def __init__(self, ends: dict[TP, int]) -> None:
        self.ends = ends
        self.asked: list[list[TP]] = []

    async def end_offsets_of(self, tps: list[TP]) -> dict[TP, int]:
        self.asked.append(tps)
        return {tp: self.ends[tp] for tp in tps}


class _App:
    class flow_control:
        @staticmethod
        def is_active() -> bool:
            return True


def idle_consumer(end: int, committed: int = 5) -> tuple[Any, TP]:
    made = consumer(committed=committed)
    tp = TP(SOURCE, 0)
    made.app = _App()
    made.assignment = lambda: {tp, TP(OTHER, 0)}
    made._unacked_messages = set()
    made._thread = _Ends({tp: end})
    return made, tp


def test_an_idle_worker_reads_again_a_partition_with_records_past_its_head() -> None:
    made, tp = idle_consumer(end=6)
    asyncio.run(made.check_idle_heads(rewind.HEAD_STALL_SECONDS - 1))
    assert made.scheduled == [] and made._thread.asked == []  # not idle long enough
    asyncio.run(made.check_idle_heads(rewind.HEAD_STALL_SECONDS))
    assert made.scheduled == [(tp, 5)]
    assert made._thread.asked == [[tp]]  # only the partitions of the rewound topics


def test_an_idle_check_leaves_partitions_that_are_done_or_busy_alone() -> None:
    made, tp = idle_consumer(end=5)  # nothing past the committed offset
    asyncio.run(made.check_idle_heads(60.0))
    assert made.scheduled == []
    made, tp = idle_consumer(end=9)
    ack(made, tp, 5, 6)  # processed, waiting for the commit
    asyncio.run(made.check_idle_heads(60.0))
    assert made.scheduled == []
    made, tp = idle_consumer(end=9)
    made._unacked_messages = {type("Message", (), {"tp": tp})()}  # held by the agent
    asyncio.run(made.check_idle_heads(60.0))
    assert made.scheduled == []


def test_every_commit_runs_the_flush_first(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    async def flush() -> None:
        calls.append("flush")

    async def faust_commit(self: Any, topics: Any = None, start_new: bool = True) -> bool:
        calls.append("commit")
        return True

    from faust.transport.drivers.aiokafka import Consumer

    monkeypatch.setattr(Consumer, "commit", faust_commit)
    made = consumer(before_commit=flush)
    assert asyncio.run(made.commit()) is True
    assert calls == ["flush", "commit"]


class _Message:
    def __init__(self, tp: TP, offset: int) -> None:
        self.tp = tp
        self.offset = offset


def test_records_are_admitted_in_offset_order_only() -> None:
    made = consumer(start=4)
    tp = TP(SOURCE, 0)
    made._unacked_messages = set()
    assert made.admit(_Message(tp, 4)) and made.admit(_Message(tp, 5))
    ack(made, tp, 7)  # Faust skipped 6 and 7 and acknowledged 7 unprocessed
    late = _Message(tp, 7)
    made._unacked_messages.add(late)
    assert not made.admit(late)  # 6 is missing: set aside, read again from 6
    assert made.scheduled == [(tp, 6)] and late not in made._unacked_messages
    assert made._acked[tp] == [] and 7 not in made._acked_index[tp]
    assert not made.admit(_Message(tp, 8))  # still missing: no second read-again
    assert made.scheduled == [(tp, 6)]
    assert made.admit(_Message(tp, 6)) and made.admit(_Message(tp, 7))
    assert not made.admit(_Message(tp, 5))  # processed already (read again): aside
    assert made.admit(_Message(TP(OTHER, 0), 99))  # other topics: Faust's order
