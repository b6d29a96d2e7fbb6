"""Fault injection for the reliability tests, loaded by a worker started with this
directory on ``PYTHONPATH`` (``tests/reliability/test_state_faults.py``); nothing in the
worker itself knows about it.

``CSS_TEST_KILL_AT=POINT:N`` makes the worker SIGKILL itself the N-th time a state flush
(``streams.runtime.state_flush``) reaches POINT:

- ``chunk_sent``: a flush whose changelog batches carry a sealed dedup chunk has handed
  them to the producer, before their acknowledgement;
- ``changelog_sent``: any flush has handed its changelog batches to the producer, before
  their acknowledgement;
- ``changelog_acked``: the changelog batches are acknowledged, the local store not written;
- ``events_acked``: the held records are acknowledged, their offsets not committed yet;
- ``rebalance_sent``: like ``changelog_sent``, for a flush that runs during a rebalance.

``CSS_TEST_SLOW_CHANGELOG_SECONDS=S`` delays the acknowledgement of every changelog batch
by S seconds and makes Faust's producer flush (which a commit awaits) return at once, as
its ``flush_atmost`` does after one 0.1 s wait; every offset commit then checks that no
changelog batch is still unacknowledged, and writes a line saying so if one is.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

_KILL_AT = os.environ.get("CSS_TEST_KILL_AT")


def _dump_tasks(signum: int, frame: Any) -> None:
    """SIGUSR1: every asyncio task's stack to stderr (to see where a worker waits)."""
    import asyncio

    loop = asyncio.get_event_loop_policy().get_event_loop()
    for task in asyncio.all_tasks(loop):
        sys.stderr.write(f"--- {task!r}\n")
        task.print_stack(limit=12, file=sys.stderr)
    sys.stderr.flush()


signal.signal(signal.SIGUSR1, _dump_tasks)

if _KILL_AT:
    from streams.codec.dedup_log import is_chunk_key
    from streams.runtime import agent, org_store, state_flush

    _POINT, _, _COUNT = _KILL_AT.partition(":")
    _reached = {"count": 0}
    _apps: list[Any] = []

    def _reach(point: str) -> None:
        if point != _POINT:
            return
        _reached["count"] += 1
        if _reached["count"] == int(_COUNT):
            sys.stderr.write(f"fault injection: SIGKILL at {point}\n")
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    _init = agent.ScorerApp.__init__

    def _remember_app(self: Any, *args: Any, **kwargs: Any) -> None:
        _init(self, *args, **kwargs)
        _apps.append(self.app)

    agent.ScorerApp.__init__ = _remember_app  # type: ignore[method-assign]

    _send = org_store.OrgStore.send

    async def _send_then_maybe_die(self: Any, snapshot: Any, producer: Any) -> Any:
        deliveries = await _send(self, snapshot, producer)
        if deliveries:
            writes = [w for ws in snapshot.org_writes.values() for w in ws]
            if any(is_chunk_key(key) and value is not None for key, value in writes):
                _reach("chunk_sent")
            _reach("changelog_sent")
            if _apps and _apps[0].rebalancing:
                _reach("rebalance_sent")
        return deliveries

    org_store.OrgStore.send = _send_then_maybe_die  # type: ignore[method-assign]

    _write_local = org_store.OrgStore.write_local

    def _die_before_local(self: Any, snapshot: Any) -> None:
        if snapshot.sent:
            _reach("changelog_acked")
        _write_local(self, snapshot)

    org_store.OrgStore.write_local = _die_before_local  # type: ignore[method-assign]

    _acknowledge = state_flush.StateFlusher.acknowledge

    def _acknowledge_then_maybe_die(self: Any, held: list[Any]) -> None:
        _acknowledge(self, held)
        if held:
            _reach("events_acked")

    state_flush.StateFlusher.acknowledge = _acknowledge_then_maybe_die  # type: ignore[method-assign]


_SLOW = os.environ.get("CSS_TEST_SLOW_CHANGELOG_SECONDS")

if _SLOW:
    import asyncio

    from faust.transport.drivers import aiokafka as faust_aiokafka

    from streams.runtime import table_io

    _unacked: set[Any] = set()
    _checked = {"commits": 0}

    async def _late(delivery: Any) -> Any:
        result = await delivery
        await asyncio.sleep(float(_SLOW))
        return result

    _submit = table_io._submit

    async def _slow_submit(*args: Any) -> Any:
        sent = await _submit(*args)
        delivery = asyncio.ensure_future(_late(sent.delivery))
        _unacked.add(delivery)
        delivery.add_done_callback(_unacked.discard)
        return table_io.SentBatch(sent.partition, sent.records, delivery)

    table_io._submit = _slow_submit

    async def _flush_gives_up(self: Any) -> None:
        return None

    faust_aiokafka.Producer.flush = _flush_gives_up  # type: ignore[method-assign]

    _commit = faust_aiokafka.Consumer._commit

    async def _checked_commit(self: Any, offsets: Any) -> Any:
        pending = sum(1 for d in _unacked if not d.done())
        if pending:
            sys.stderr.write(
                f"fault injection: commit with {pending} changelog batches unacknowledged\n"
            )
        elif not _checked["commits"]:
            sys.stderr.write("fault injection: commit checked, no changelog batch unacknowledged\n")
        _checked["commits"] += 1
        sys.stderr.flush()
        return await _commit(self, offsets)

    faust_aiokafka.Consumer._commit = _checked_commit  # type: ignore[method-assign]
