"""Decoder throughput: valid events/s for single-event records and 100-event batches.

Prints numbers, asserts nothing (timings depend on the machine). Uses generated events
(``devtools.generate``) so the mix of types, times and field counts is realistic, plus the
raw ``orjson.loads`` cost of the same bytes as a floor for comparison.

    .venv/bin/python benchmarks/bench_decode.py [--events N] [--repeat R]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import orjson

from devtools.generate import KIND_EVENT, TelemetryGenerator
from streams.codec.decoding import decode_record


def best_rate(run: Callable[[], int], repeat: int) -> float:
    """Best of ``repeat`` runs, in events per CPU second of this process: "per core",
    and less disturbed by other processes sharing the machine than wall time."""
    best = 0.0
    for _ in range(repeat):
        started = time.process_time()
        events = run()
        elapsed = max(time.process_time() - started, 1e-9)
        best = max(best, events / elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    generator = TelemetryGenerator(orgs=50, months=12, seed=1)
    lines: list[bytes] = []
    for line, kind in generator.records():
        if kind == KIND_EVENT:
            lines.append(line)
        if len(lines) >= args.events:
            break
    now_ms = generator.now_ms
    # Batches of 100 events of one org, as `csscore produce --batch 100` would send them.
    by_org: dict[str, list[bytes]] = {}
    for line in lines:
        by_org.setdefault(orjson.loads(line)["subject"], []).append(line)
    batches = [
        b"[" + b",".join(org_lines[i : i + 100]) + b"]"
        for org_lines in by_org.values()
        for i in range(0, len(org_lines) - 99, 100)
    ]

    def singles() -> int:
        accepted = 0
        for line in lines:
            accepted += len(decode_record(line, now_ms).events)
        return accepted

    def batched() -> int:
        accepted = 0
        for record in batches:
            accepted += len(decode_record(record, now_ms).events)
        return accepted

    def raw_loads() -> int:
        for line in lines:
            orjson.loads(line)
        return len(lines)

    if singles() != len(lines):
        raise SystemExit("generated events must all decode")
    print(f"events={len(lines)} batches={len(batches)} (100 events each)")
    print(f"orjson.loads only        : {best_rate(raw_loads, args.repeat):12,.0f} events/s (CPU)")
    print(f"decode single events     : {best_rate(singles, args.repeat):12,.0f} events/s (CPU)")
    print(f"decode 100-event batches : {best_rate(batched, args.repeat):12,.0f} events/s (CPU)")


if __name__ == "__main__":
    main()
