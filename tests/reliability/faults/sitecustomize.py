"""Fault injection for the reliability tests, loaded by a worker started with this
directory on ``PYTHONPATH`` (``tests/reliability/test_state_faults.py``); nothing in the
worker itself knows about it.

With ``CSS_TEST_KILL_BETWEEN_WRITES=N`` the worker SIGKILLs itself at the N-th org write
that seals a dedup chunk: after the chunk is written to the ``orgs`` table and before the
org's value is.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

_KILL_AT = os.environ.get("CSS_TEST_KILL_BETWEEN_WRITES")

if _KILL_AT:
    from streams.codec.dedup_log import is_chunk_key
    from streams.runtime import org_store

    class _KillingTable:
        """The ``orgs`` table, dying between a chunk write and the value write after it."""

        def __init__(self, table: Any, kill_at: int) -> None:
            self._table = table
            self._kill_at = kill_at
            self._after_chunk = False
            self._sealing_writes = 0

        def __getattr__(self, name: str) -> Any:
            return getattr(self._table, name)

        def __setitem__(self, key: bytes, value: bytes) -> None:
            if is_chunk_key(key):
                self._after_chunk = True
            elif self._after_chunk:
                self._after_chunk = False
                self._sealing_writes += 1
                if self._sealing_writes == self._kill_at:
                    sys.stderr.write("fault injection: SIGKILL between a chunk and its value\n")
                    sys.stderr.flush()
                    os.kill(os.getpid(), signal.SIGKILL)
            self._table[key] = value

    _original_init = org_store.OrgStore.__init__

    def _init(self: org_store.OrgStore, orgs: Any, clocks: Any, home: Any) -> None:
        _original_init(self, _KillingTable(orgs, int(_KILL_AT)), clocks, home)

    org_store.OrgStore.__init__ = _init  # type: ignore[method-assign]
