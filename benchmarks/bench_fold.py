"""Benchmark of the scoring fold (issue 3 item 7): prints events applied per second and
record evaluations per second for one org fed by every signal of the default catalog.

Not a test: it asserts nothing about time. Target: >= 200,000 events applied/s per core.
Rates are per CPU second of this process (``time.process_time``), so other processes
sharing the cores do not distort them.
Run: ``.venv/bin/python benchmarks/bench_fold.py [--events N]``.
"""

from __future__ import annotations

import argparse
import random
import time

from scoring.events import Event
from scoring.fold import DEFAULT_DEDUP_HORIZON_MS, apply_event, prune
from scoring.record import live_record, monthly_record
from scoring.state import new_org_state
from scoring.timeutil import HOUR_MS, month_of, parse_time_ms
from streams.catalog import load_catalog

_TEMPLATES: list[tuple[str, dict[str, object]]] = [
    ("license.activated", {"product": "sales_cloud", "count": 2}),  # data as decoded
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
    """``count`` events of one org over about two years, in time order."""
    rng = random.Random(seed)
    start = parse_time_ms("2024-01-01T00:00:00Z")
    step = (730 * 24 * HOUR_MS) // max(count, 1)
    events = [
        Event("org.profile", "org-1", "bench", "p", start,
              {"products": ["sales_cloud", "service_cloud", "data_cloud", "platform"]})
    ]
    for i in range(count - 1):
        event_type, data = _TEMPLATES[rng.randrange(len(_TEMPLATES))]
        events.append(Event(event_type, "org-1", "bench", str(i), start + (i + 1) * step, data))
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--evaluations", type=int, default=200)
    args = parser.parse_args()
    catalog = load_catalog(None)
    events = make_events(args.events)

    state = new_org_state("org-1")
    began = time.process_time()
    for event in events:
        apply_event(catalog, state, event, dedup_horizon_ms=DEFAULT_DEDUP_HORIZON_MS)
    elapsed = time.process_time() - began
    print(f"events applied: {len(events)} in {elapsed:.3f} s = {len(events) / elapsed:,.0f}/s")

    pruned = new_org_state("org-1")
    began = time.process_time()
    for i, event in enumerate(events):
        apply_event(catalog, pruned, event, dedup_horizon_ms=DEFAULT_DEDUP_HORIZON_MS)
        if i % 100 == 99:
            prune(pruned, dedup_horizon_ms=DEFAULT_DEDUP_HORIZON_MS)
    elapsed = time.process_time() - began
    print(f"events applied with prune every 100: {len(events) / elapsed:,.0f}/s")

    latest = pruned.latest_time_ms
    assert latest is not None
    month = month_of(latest) - 1
    began = time.process_time()
    for _ in range(args.evaluations):
        live_record(catalog, pruned)
    elapsed = time.process_time() - began
    print(f"live records: {args.evaluations / elapsed:,.0f}/s")
    began = time.process_time()
    for _ in range(args.evaluations):
        monthly_record(catalog, pruned, month)
    elapsed = time.process_time() - began
    print(f"monthly records: {args.evaluations / elapsed:,.0f}/s")


if __name__ == "__main__":
    main()
