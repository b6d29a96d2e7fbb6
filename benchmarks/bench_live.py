"""Micro-benchmark of the live record: µs per live record built and serialised, the old
path (``orjson.dumps(live_record(compiled, state))``) against the new one
(``LiveRecordEncoder.encode(state)``: incremental live evaluation, cached fragments),
measured in the same run, interleaved.

The old path is measured as it was before the incremental live evaluation: the state's
last live evaluation is forgotten (untimed) before each of its records, so every signal is
evaluated again (timeless signals' results still come from their per-signal memo).

Scenarios (each record follows a new accepted event of the org, as in the worker; the
event's fold is not timed):

- ``bench org``: the shape ``csscore bench`` produces, about 20 single events of its mix
  in one month (3 signals ``ok``, the rest ``not_applicable``);
- ``every signal ok``: two years of every event type of the default catalog, with every
  product owned, so every signal is ``ok``;
- ``bench orgs, round robin``: ``--orgs`` bench orgs taking turns (each record is for
  another org than the last, so caches keyed by one org's results do not serve);
- the first two again with no event between records (``unchanged``).

Each figure is the median of ``--repeat`` runs of the mean over ``--records`` records;
both paths check they give the same bytes first. Not a test: it asserts nothing about
time. Targets: new <= 0.3x old for the bench org, <= 0.5x for the every-signal-ok org.
Run: ``.venv/bin/python benchmarks/bench_live.py [--records N] [--repeat R] [--orgs N]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator

import orjson
from bench_fold import make_events  # this script's directory is on sys.path

from devtools.bench.events import event_line
from scoring.compiled import CompiledCatalog, compile_catalog
from scoring.events import Event
from scoring.fold import DEFAULT_DEDUP_HORIZON_MS, Outcome, apply_event, prune
from scoring.record import live_record
from scoring.state import OrgState, state_from_dict, state_to_dict
from scoring.timeutil import parse_time_ms
from streams.codec.catalog import load_catalog
from streams.codec.decoding import decode_record
from streams.pipeline.live_fragments import LiveRecordEncoder

HORIZON = DEFAULT_DEDUP_HORIZON_MS
BENCH_MONTH_START = parse_time_ms("2026-11-02T00:00:00Z")
# What the every-signal-ok org needs beyond bench_fold's mix: every product owned, both
# config settings, credits provisioned.
_OWNERSHIP: list[tuple[str, dict[str, object]]] = [
    (
        "org.profile",
        {"products": ["sales_cloud", "service_cloud", "field_service", "data_cloud"]},
    ),
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


def bench_events(org: str, count: int, start_ms: int, step_ms: int, run: str) -> Iterator[Event]:
    """``count`` events of ``csscore bench``'s mix for ``org``, ``step_ms`` apart."""
    for seq in range(count):
        time_ms = start_ms + seq * step_ms
        ((_index, event),) = decode_record(event_line(seq, org, time_ms, run), time_ms).events
        yield event


def fold(compiled: CompiledCatalog, state: OrgState, events: Iterator[Event]) -> None:
    for event in events:
        apply_event(compiled, state, event, dedup_horizon_ms=HORIZON)
    prune(state, dedup_horizon_ms=HORIZON)


def every_signal_ok_org(compiled: CompiledCatalog) -> tuple[OrgState, list[Event]]:
    """A rich org with every signal ``ok``, and later events of the same mix."""
    events = make_events(20_000)
    state = OrgState("org-1")
    fold(compiled, state, iter(events))
    latest = state.latest_time_ms
    assert latest is not None
    extra = [
        Event(event_type, "org-1", "bench-ok", f"own-{i}", latest - 1000 + i, data)
        for i, (event_type, data) in enumerate(_OWNERSHIP)
    ]
    fold(compiled, state, iter(extra))
    statuses = {s["id"]: s["status"] for s in live_record(compiled, state)["signals"]}
    not_ok = sorted(signal for signal, status in statuses.items() if status != "ok")
    assert not not_ok, f"signals not ok: {not_ok}"
    # Later events: the same mix, one second apart from the org's latest time on.
    later = make_events(200_000, seed=11)
    start = latest + 1000
    return state, [
        Event(e.type, e.subject, "bench-late", e.id, start + i * 1000, e.data)
        for i, e in enumerate(later[1:])
    ]


def timed(records: int, before: Callable[[], None], build: Callable[[], bytes]) -> float:
    """Mean µs of ``build`` over ``records`` calls, each after an untimed ``before``."""
    clock = time.perf_counter_ns
    total = 0
    for _ in range(records):
        before()
        began = clock()
        build()
        total += clock() - began
    return total / records / 1000


class Scenario:
    """One org (or a ring of orgs) and the events to apply before each record, twice:
    each path works on its own copy, so both see the same states."""

    def __init__(
        self, compiled: CompiledCatalog, states: list[OrgState], later: list[list[Event]]
    ) -> None:
        self.compiled = compiled
        self.copies = {
            path: [state_from_dict(state_to_dict(state)) for state in states]
            for path in ("old", "new")
        }
        self.later = later
        self.position = {"old": 0, "new": 0}
        self.encoder = LiveRecordEncoder(compiled)

    def run(self, path: str, records: int, with_events: bool) -> float:
        states = self.copies[path]
        compiled = self.compiled
        encoder = self.encoder
        current: list[OrgState] = []

        def before() -> None:
            position = self.position[path]
            self.position[path] = position + 1
            index = position % len(states)
            state = states[index]
            if with_events:
                events = self.later[index]
                event = events[position // len(states)]
                outcome = apply_event(compiled, state, event, dedup_horizon_ms=HORIZON)
                assert outcome is Outcome.ACCEPTED, "too few later events"
            if path == "old":
                # The old path evaluated every signal for each live record (only timeless
                # results came from a memo): forget the last live evaluation.
                state.live_memo = None
            current[:] = [state]

        if path == "old":
            return timed(records, before, lambda: orjson.dumps(live_record(compiled, current[0])))
        return timed(records, before, lambda: encoder.encode(current[0]))

    def check(self) -> None:
        for old, new in zip(self.copies["old"], self.copies["new"], strict=True):
            assert self.encoder.encode(new) == orjson.dumps(live_record(self.compiled, old))


def compare(name: str, scenario: Scenario, args: argparse.Namespace, with_events: bool) -> None:
    scenario.check()
    old: list[float] = []
    new: list[float] = []
    for _ in range(args.repeat):
        old.append(scenario.run("old", args.records, with_events))
        new.append(scenario.run("new", args.records, with_events))
    scenario.check()
    old_us, new_us = statistics.median(old), statistics.median(new)
    print(f"{name:<42} old {old_us:7.2f} µs   new {new_us:6.2f} µs   new/old {new_us / old_us:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--orgs", type=int, default=5_000)
    args = parser.parse_args()
    compiled = compile_catalog(load_catalog(None))

    def bench_org(index: int, later_count: int) -> tuple[OrgState, list[Event]]:
        org = f"bench-org-{index:06d}"
        state = OrgState(org)
        fold(compiled, state, bench_events(org, 20, BENCH_MONTH_START, 1_800_000, "run"))
        latest = state.latest_time_ms
        assert latest is not None
        return state, list(bench_events(org, later_count, latest + 1000, 1000, "late"))

    per_scenario = args.records * args.repeat
    single, single_later = bench_org(0, per_scenario)
    ok_org, ok_later = every_signal_ok_org(compiled)
    print(f"µs per live record (build + serialise), median of {args.repeat} runs")
    compare(
        "bench org, an event before each record",
        Scenario(compiled, [single], [single_later]),
        args,
        with_events=True,
    )
    compare(
        "every signal ok, an event before each record",
        Scenario(compiled, [ok_org], [ok_later]),
        args,
        with_events=True,
    )
    compare("bench org, unchanged", Scenario(compiled, [single], [[]]), args, with_events=False)
    compare("every signal ok, unchanged", Scenario(compiled, [ok_org], [[]]), args, False)
    if args.orgs:
        ring = [bench_org(index, per_scenario // args.orgs + 1) for index in range(args.orgs)]
        compare(
            f"{args.orgs:,} bench orgs round robin + event",
            Scenario(compiled, [state for state, _ in ring], [later for _, later in ring]),
            args,
            with_events=True,
        )


if __name__ == "__main__":
    main()
