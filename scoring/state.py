"""An org's state: everything its future records can read, bounded and JSON-serialisable.

Size (also in ``scoring/README.md``, "Size of an org's state"): the dedup memory is at
most 20,000 ids of 16 bytes (64-bit hash + 64-bit stream time), packed as base64: <= 427 KB
of JSON (the streaming worker stores it apart from this JSON, in binary).
The rest is bounded by retention (docs/scoring-rules.md section 3): 27 month
buckets per signal (one small number each, a day bitmask for error_free_days), the exact
times of binary-indicator events within their window, and latest-wins histories (config,
purchases, profiles) from the retention window plus one older entry each. With the default
catalog a busy org is a few KB besides the dedup ids.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import struct
from collections import OrderedDict
from collections.abc import Collection
from typing import Any

from scoring.accumulators import Accumulator, LatestValues, accumulator_from_dict
from scoring.errors import InvalidState
from scoring.timeutil import month_of

STATE_VERSION = 1


class OrgState:
    """Mutable per-org fold state (see :mod:`scoring.fold` for how events change it)."""

    __slots__ = (
        "alert_bucket",
        "alert_episode",
        "backfill_seq",
        "dedup",
        "evaluations",
        "first_time_ms",
        "latest_month",
        "latest_time_ms",
        "live_memo",
        "org_id",
        "owned_since",
        "ownership_seq",
        "profiles",
        "pruned_month",
        "seq",
        "signal_results",
        "signals",
        "touched",
    )

    def __init__(self, org_id: str) -> None:
        self.org_id = org_id
        # Smallest / largest time of the org's accepted non-duplicate events (section 9).
        self.first_time_ms: int | None = None
        self.latest_time_ms: int | None = None
        self.latest_month: int | None = None  # month_of(latest_time_ms), cached
        self.seq = 0  # arrival counter of accepted events: latest-wins tie-break
        # Permanent ownership: earliest purchase (quantity > 0) / provisioning (credits > 0).
        self.owned_since: dict[str, int] = {}
        self.profiles = LatestValues()  # org.profile product lists, latest wins
        self.signals: dict[str, list[Accumulator]] = {}
        # 64-bit hash of (source, id) -> org stream time just after accepting that copy.
        # Order = order of latest acceptance (moved to the end on re-acceptance), so the
        # first key is the one to forget when full (section 9). An OrderedDict, not a dict:
        # removing from the front of a plain dict leaves holes that make next(iter()) O(n).
        self.dedup: OrderedDict[int, int] = OrderedDict()
        # Retention cutoff month of the last prune (not serialised: a restored state is
        # pruned in full once more, which changes nothing).
        self.pruned_month: int | None = None
        # Memo of monthly evaluations (scoring.record), not serialised. ``backfill_seq`` is
        # the seq of the last accepted event that fell before the org's latest month: any
        # other accepted event lies in or after the latest month, so it cannot change the
        # evaluation of an earlier closed month. Only ``scoring.fold`` mutates a state, and
        # every change it makes to what a record reads comes with a new ``seq``.
        self.backfill_seq = 0
        self.evaluations: dict[int, Any] = {}
        # Per signal id: seq of the last accepted event that updated its accumulators
        # (absent: none since this object was made), and scoring.record's memo of the
        # signal's last result, valid while that seq is unchanged. Not serialised.
        self.touched: dict[str, int] = {}
        self.signal_results: dict[tuple[str, int], Any] = {}
        # scoring.evaluation's memo of the last live evaluation, and the seq of the last
        # accepted event that changed ownership (``owned_since`` or ``profiles``), which
        # can change which signals apply. Not serialised.
        self.live_memo: Any = None
        self.ownership_seq = 0
        # The open live-alert episode (scoring.alerts): (org time it began, whether its
        # at_risk alert was raised); None when the live score is not below the band of
        # the month before.
        self.alert_episode: tuple[int, bool] | None = None
        # The check step (org time // step) of the last live-alert check.
        self.alert_bucket: int | None = None

    @property
    def first_month(self) -> int | None:
        """Month index of the org's first-seen time, None before any event."""
        return None if self.first_time_ms is None else month_of(self.first_time_ms)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OrgState):
            return NotImplemented
        return state_to_dict(self) == state_to_dict(other)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (
            f"OrgState(org_id={self.org_id!r}, first_time_ms={self.first_time_ms}, "
            f"latest_time_ms={self.latest_time_ms}, signals={len(self.signals)})"
        )


def state_to_dict(
    state: OrgState, *, with_dedup: bool = True, signals: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Plain JSON data (str keys, ints, strs, lists; Fractions as ``"n/d"``), versioned.

    ``with_dedup=False`` leaves the dedup memory out (the worker keeps it apart, in binary);
    ``signals`` replaces the signals' data (the worker passes pre-encoded fragments)."""
    data = {
        "v": STATE_VERSION,
        "org_id": state.org_id,
        "first": state.first_time_ms,
        "latest": state.latest_time_ms,
        "seq": state.seq,
        "owned": dict(state.owned_since),
        "profiles": state.profiles.to_dict(),
        "signals": (
            {sid: [acc.to_dict() for acc in accs] for sid, accs in state.signals.items()}
            if signals is None
            else signals
        ),
    }
    if state.alert_bucket is not None:
        episode = state.alert_episode
        data["alert"] = [state.alert_bucket, *(episode if episode is not None else ())]
    if with_dedup:
        data["dedup"] = base64.b64encode(pack_dedup(state.dedup.items())).decode("ascii")
    return data


def pack_dedup(pairs: Collection[tuple[int, int]]) -> bytes:
    """(hash, stored time) pairs (``dedup.items()``, oldest first) as little-endian int64s."""
    # One struct call for all pairs.
    return struct.pack(f"<{2 * len(pairs)}q", *itertools.chain.from_iterable(pairs))


def unpack_dedup(packed: bytes) -> OrderedDict[int, int]:
    """Inverse of :func:`pack_dedup`."""
    flat = struct.unpack(f"<{len(packed) // 8}q", packed)
    return OrderedDict(zip(flat[0::2], flat[1::2], strict=True))


def state_from_dict(data: dict[str, Any]) -> OrgState:
    """Inverse of :func:`state_to_dict`; raises :class:`InvalidState` for data it did not
    write (another version, a missing field, a wrong type). Data without ``"dedup"``
    (``with_dedup=False``) gives an empty dedup memory."""
    if not isinstance(data, dict) or data.get("v") != STATE_VERSION:
        version = data.get("v") if isinstance(data, dict) else None
        raise InvalidState(f"unsupported org state version {version!r}")
    try:
        return _state_from_dict(data)
    except InvalidState:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, struct.error, binascii.Error) as exc:
        raise InvalidState(f"malformed org state: {type(exc).__name__}: {exc}") from exc


def _state_from_dict(data: dict[str, Any]) -> OrgState:
    state = OrgState(str(data["org_id"]))
    state.first_time_ms = data["first"]
    state.latest_time_ms = data["latest"]
    state.latest_month = None if state.latest_time_ms is None else month_of(state.latest_time_ms)
    state.seq = int(data["seq"])
    state.owned_since = {str(k): int(v) for k, v in data["owned"].items()}
    profiles = accumulator_from_dict(data["profiles"])
    if not isinstance(profiles, LatestValues):
        raise InvalidState(f"org state profiles must be latest-wins values, not {profiles!r}")
    state.profiles = profiles
    state.signals = {
        str(sid): [accumulator_from_dict(a) for a in accs] for sid, accs in data["signals"].items()
    }
    if "alert" in data:
        bucket, *episode = data["alert"]
        state.alert_bucket = int(bucket)
        if episode:
            since_ms, raised = episode
            state.alert_episode = (int(since_ms), bool(raised))
    if "dedup" in data:
        state.dedup = unpack_dedup(base64.b64decode(data["dedup"]))
    return state
