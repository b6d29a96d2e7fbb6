"""Benchmark of the scoring fold (issue 3 item 7): prints events applied per second and
record evaluations per second for one org fed by every signal of the default catalog.

Not a test: it asserts nothing about time. Targets: >= 200,000 events applied/s and
>= 5,000 live and monthly records/s per core (issue 8). Record rates are printed warm
(state unchanged between records: memoised results serve), cold (every memo forgotten
before each record) and with a new event before each live record.
Rates are per CPU second of this process (``time.process_time``), so other processes
sharing the cores distort them less; each figure is the best of ``--repeat`` runs (as
``timeit`` does) with the median beside it.
Run: ``.venv/bin/python benchmarks/bench_fold.py [--events N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from scoring.compiled import compile_catalog
from scoring.events import Event
from scoring.fold import DEFAULT_DEDUP_HORIZON_MS, apply_event, prune
from scoring.record import forget_memos, live_record, monthly_record
from scoring.state import OrgState
from scoring.timeutil import HOUR_MS, month_of, parse_time_ms
from streams.codec.catalog import load_catalog

# One event per type of spec 7, with data as the decoder hands it over (floats for
# non-integer numbers), each matching a signal of the default catalog.
_TEMPLATES: list[tuple[str, dict[str, object]]] = [
    ("license.activated", {"product": "sales_cloud", "count": 2}),
    ("license.deactivated", {"product": "sales_cloud"}),
    ("license.purchased", {"product": "field_service", "quantity": 50}),
    ("credits.consumed", {"product": "data_cloud", "credits": 12.5}),
    ("work_order.created", {"product": "field_service", "count": 3}),
    ("case.created", {"product": "service_cloud"}),
    ("feature.used", {"product": "service_cloud", "feature": "swarming"}),
    ("order.placed", {"product": "commerce_cloud", "count": 4}),
    ("review.completed", {"program": "proactive_monitoring", "review": "threshold"}),
    ("learning.completed", {"kind": "badge"}),
    ("coaching.attended", {}),
    ("error.occurred", {"source": "apex", "count": 2}),
    ("performance.sampled", {"metric": "ept_ms", "value": 1830.5, "count": 10}),
    ("alert.triggered", {"severity": "warning", "metric": "cpu"}),
    ("customization.reviewed", {}),
    ("config.changed", {"setting": "security_health_check_score", "value": 72}),
]


def make_events(count: int, seed: int = 7) -> list[Event]:
    """``count`` events of one org over about two years, in time order, unique ids."""
    rng = random.Random(seed)
    start = parse_time_ms("2024-01-01T00:00:00Z")
    step = (730 * 24 * HOUR_MS) // max(count, 1)
    events = [
        Event(
            "org.profile",
            "org-1",
            "bench",
            "p",
            start,
            {"products": ["sales_cloud", "service_cloud", "data_cloud", "platform"]},
        )
    ]
    for i in range(count - 1):
        event_type, data = _TEMPLATES[rng.randrange(len(_TEMPLATES))]
        events.append(Event(event_type, "org-1", "bench", str(i), start + (i + 1) * step, data))
    return events


def _rates(operations: int, run: Callable[[], object], repeat: int) -> tuple[float, float]:
    rates = []
    for _ in range(repeat):
        began = time.process_time()
        run()
        rates.append(operations / max(time.process_time() - began, 1e-9))
    return max(rates), statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--evaluations", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    catalog = load_catalog(None)
    compiled = compile_catalog(catalog)
    events = make_events(args.events)
    horizon = DEFAULT_DEDUP_HORIZON_MS

    def fold_all() -> OrgState:
        state = OrgState("org-1")
        for event in events:
            apply_event(compiled, state, event, dedup_horizon_ms=horizon)
        return state

    def fold_and_prune() -> OrgState:
        state = OrgState("org-1")
        for i, event in enumerate(events):
            apply_event(compiled, state, event, dedup_horizon_ms=horizon)
            if i % 100 == 99:  # the worker prunes once per processed batch
                prune(state, dedup_horizon_ms=horizon)
        return state

    best, median = _rates(len(events), fold_all, args.repeat)
    print(
        f"events applied/s: {best:,.0f} (median {median:,.0f}; {len(events):,} events, "
        f"{len(catalog.signals)} signals)"
    )
    best, median = _rates(len(events), fold_and_prune, args.repeat)
    print(f"events applied/s with prune every 100 events: {best:,.0f} (median {median:,.0f})")

    state = fold_and_prune()
    latest = state.latest_time_ms
    assert latest is not None
    month = month_of(latest) - 1
    n = args.evaluations
    # Warm: the state is unchanged between records, so memoised results all serve.
    best, median = _rates(n, lambda: [live_record(compiled, state) for _ in range(n)], args.repeat)
    print(f"live records/s: {best:,.0f} (median {median:,.0f})")
    best, median = _rates(
        n, lambda: [monthly_record(compiled, state, month) for _ in range(n)], args.repeat
    )
    print(f"monthly records/s: {best:,.0f} (median {median:,.0f})")

    # Cold: every memo is forgotten before each record (the first record of a month).
    def cold(record: Callable[[], object]) -> Callable[[], object]:
        def run() -> None:
            for _ in range(n):
                forget_memos(compiled, state)
                record()

        return run

    best, median = _rates(n, cold(lambda: live_record(compiled, state)), args.repeat)
    print(f"live records/s, memos forgotten before each: {best:,.0f} (median {median:,.0f})")
    best, median = _rates(n, cold(lambda: monthly_record(compiled, state, month)), args.repeat)
    print(f"monthly records/s, memos forgotten before each: {best:,.0f} (median {median:,.0f})")

    # Worst case of the worker: a new event (of a random type) before every live record.
    later = make_events(n * (args.repeat + 1), seed=11)
    shift = latest - later[0].time_ms + 1
    fresh = iter(
        [Event(e.type, e.subject, "bench-late", e.id, e.time_ms + shift, e.data) for e in later]
    )

    def event_then_live() -> None:
        for _ in range(n):
            apply_event(compiled, state, next(fresh), dedup_horizon_ms=horizon)
            live_record(compiled, state)

    best, median = _rates(n, event_then_live, args.repeat)
    print(f"(one event + live record)/s: {best:,.0f} (median {median:,.0f})")


if __name__ == "__main__":
    main()
