"""Decode and live-record costs of *any* checkout of this project, on the same inputs, so a
commit can be compared with an older one measured in the same session (the older code
does not stay in the tree: check it out in a ``git worktree``).

    git worktree add /tmp/base 64f3cd7
    PYTHONPATH=/tmp/base .venv/bin/python benchmarks/bench_against_commit.py /tmp/base
    .venv/bin/python benchmarks/bench_against_commit.py .

Run the two alternately a few times: each prints CPU µs per valid event decoded (the
end-to-end bench's single-event records: 10,000 orgs, one fixed month) and µs per live
record built and serialised after one new event (a bench org; an org with every signal
``ok``, as ``bench_live.py`` builds them), each the median of 5 runs. It knows the module
layout of this tree and of the one before the package split (``streams.decoding``,
``streams.catalog``, ``live_record`` + ``orjson.dumps``). Asserts nothing about time.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

TREE = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
sys.path.insert(0, str(TREE / "benchmarks"))

from bench_fold import make_events  # noqa: E402  (the tree's own, on sys.path above)

from scoring.events import Event  # noqa: E402
from scoring.fold import DEFAULT_DEDUP_HORIZON_MS, apply_event, prune  # noqa: E402
from scoring.state import OrgState  # noqa: E402
from scoring.timeutil import format_time_ms, parse_time_ms  # noqa: E402

decode_record: Callable[[bytes, int], Any]
build_live: Callable[[OrgState], bytes]
try:  # the layout since the package split
    from scoring.compiled import compile_catalog
    from streams.codec.catalog import load_catalog
    from streams.codec.fast_decode import decode_record
    from streams.pipeline.live_fragments import LiveRecordEncoder

    catalog: Any = compile_catalog(load_catalog(None))
    build_live = LiveRecordEncoder(catalog).encode
    LAYOUT = "packages (codec/pipeline)"
except ImportError:  # the flat layout before it
    from streams.catalog import load_catalog  # type: ignore[no-redef]
    from streams.decoding import decode_record  # type: ignore[no-redef]

    from scoring.record import live_record

    catalog = load_catalog(None)

    def build_live(state: OrgState) -> bytes:
        return orjson.dumps(live_record(catalog, state))

    LAYOUT = "flat"

H = DEFAULT_DEDUP_HORIZON_MS
NOW_MS = parse_time_ms("2026-06-30T00:00:00Z")
MONTH_MS = parse_time_ms("2026-06-01T00:00:00Z")
# The inputs are copied here, not imported: an older checkout may not have the modules
# that hold them now (devtools/bench/events.py, benchmarks/bench_live.py).
MIX = (  # the end-to-end bench's mix (devtools/bench/events.py)
    ("case.created", "service/app", b'{"product":"service_cloud","count":1}'),
    ("case.created", "service/app", b'{"product":"service_cloud","count":2}'),
    ("order.placed", "commerce/storefront", b'{"product":"commerce_cloud","count":3}'),
    ("order.placed", "commerce/storefront", b'{"product":"commerce_cloud"}'),
    ("work_order.created", "field-service/app", b'{"product":"field_service","count":1}'),
    ("feature.used", "service/app", b'{"product":"service_cloud","feature":"swarming"}'),
    ("error.occurred", "platform/logs", b'{"source":"apex","count":2}'),
    ("performance.sampled", "platform/rum", b'{"metric":"ept","value":2150.5,"count":4}'),
    ("license.activated", "identity/users", b'{"product":"sales_cloud","count":2}'),
    ("credits.consumed", "data-cloud/meter", b'{"product":"data_cloud","credits":812.25}'),
    ("learning.completed", "trailhead", b'{"kind":"badge"}'),
    ("alert.triggered", "platform/monitoring", b'{"severity":"warning","metric":"ept"}'),
)
OWNERSHIP: list[tuple[str, dict[str, object]]] = [  # as bench_live.py's every-signal-ok org
    ("org.profile", {"products": ["sales_cloud", "service_cloud", "field_service", "data_cloud"]}),
    ("license.purchased", {"product": "sales_cloud", "quantity": 40}),
    ("license.purchased", {"product": "service_cloud", "quantity": 30}),
    ("license.purchased", {"product": "field_service", "quantity": 20}),
    ("license.purchased", {"product": "commerce_cloud", "quantity": 1}),
    ("license.purchased", {"product": "platform", "quantity": 1}),
    ("credits.provisioned", {"product": "data_cloud", "credits": 100_000}),
    ("config.changed", {"setting": "event_monitoring_enabled", "value": True}),
    ("review.completed", {"program": "proactive_monitoring", "review": "threshold"}),
    ("coaching.attended", {}),
    ("customization.reviewed", {}),
]
RECORDS = 3_000
RUNS = 5


def line(seq: int, org: str, time_ms: int, run: str) -> bytes:
    event_type, source, data = MIX[seq % len(MIX)]
    return b'{"specversion":"1.0","id":"%s-%d","source":"%s","type":"%s","subject":"%s",' % (
        run.encode(),
        seq,
        source.encode(),
        event_type.encode(),
        org.encode(),
    ) + b'"time":"%s","data":%s}' % (format_time_ms(time_ms).encode(), data)


def decode_us() -> float:
    span = 20 * 86_400_000
    records = [
        line(seq, f"bench-org-{seq % 10_000:06d}", MONTH_MS + seq * span // 20_000, "r")
        for seq in range(20_000)
    ]
    for record in records[:2_000]:
        decode_record(record, NOW_MS)
    runs = []
    for _ in range(RUNS):
        began = time.process_time()
        for record in records:
            decode_record(record, NOW_MS)
        runs.append((time.process_time() - began) / len(records) * 1e6)
    return statistics.median(runs)


def fold(state: OrgState, events: Iterator[Event]) -> None:
    for event in events:
        apply_event(catalog, state, event, dedup_horizon_ms=H)
    prune(state, dedup_horizon_ms=H)


def bench_events(org: str, count: int, start_ms: int, step_ms: int, run: str) -> Iterator[Event]:
    for seq in range(count):
        time_ms = start_ms + seq * step_ms
        ((_index, event),) = decode_record(line(seq, org, time_ms, run), NOW_MS).events
        yield event


def bench_org() -> tuple[OrgState, list[Event]]:
    org = "bench-org-000000"
    state = OrgState(org)
    fold(state, bench_events(org, 20, MONTH_MS + 86_400_000, 1_800_000, "run"))
    assert state.latest_time_ms is not None
    start = state.latest_time_ms + 1000
    return state, list(bench_events(org, (RUNS + 1) * RECORDS, start, 1000, "late"))


def every_signal_ok_org() -> tuple[OrgState, list[Event]]:
    state = OrgState("org-1")
    fold(state, iter(make_events(20_000)))
    latest = state.latest_time_ms
    assert latest is not None
    fold(
        state,
        iter(
            Event(event_type, "org-1", "bench-ok", f"own-{i}", latest - 1000 + i, data)
            for i, (event_type, data) in enumerate(OWNERSHIP)
        ),
    )
    later = make_events(40_000, seed=11)[1:]
    start = latest + 1000
    return state, [
        Event(e.type, e.subject, "bench-late", e.id, start + i * 1000, e.data)
        for i, e in enumerate(later)
    ]


def live_us(state: OrgState, later: list[Event]) -> float:
    build_live(state)
    position = 0
    runs = []
    clock = time.perf_counter_ns
    for _ in range(RUNS):
        total = 0
        for _ in range(RECORDS):
            apply_event(catalog, state, later[position], dedup_horizon_ms=H)
            position += 1
            began = clock()
            build_live(state)
            total += clock() - began
        runs.append(total / RECORDS / 1000)
    return statistics.median(runs)


def main() -> None:
    print(f"tree {TREE} ({LAYOUT} layout)")
    print(f"decode + validate, bench records     {decode_us():8.2f} µs/event")
    print(f"live record after an event, bench org {live_us(*bench_org()):8.2f} µs")
    print(f"same, every signal ok                 {live_us(*every_signal_ok_org()):8.2f} µs")


if __name__ == "__main__":
    main()
