"""Decoder cost: µs per valid event, the reference decoder against the msgspec fast path.

Prints numbers, asserts nothing (timings depend on the machine). Three inputs, each decoded
by both decoders in the same run, old and new interleaved:

* generated telemetry (``devtools.generate``: the mix of types, times and field counts of
  a year of 50 orgs), one event per record;
* the end-to-end bench's single-event records (``devtools.bench.events.synthetic_events``:
  10,000 orgs, times over 24 days of the bench's fixed month);
* the generated telemetry in 100-event batches of one org, as ``csscore produce --batch
  100`` sends them.

Each figure is the median of ``--repeat`` runs, in CPU time of this process ("per core",
less disturbed by other processes on the machine than wall time). ``orjson.loads`` of the
same bytes is printed as a floor.

    .venv/bin/python benchmarks/bench_decode.py [--events N] [--repeat R]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import orjson

from devtools.bench.events import MONTH_CLOSE_TICK_MS, synthetic_events
from devtools.generate import KIND_EVENT, TelemetryGenerator
from streams.codec.decoding import DecodedRecord
from streams.codec.decoding import decode_record as decode_reference
from streams.codec.fast_decode import decode_record as decode_fast

Decoder = Callable[[bytes, int], DecodedRecord]


def cpu_us_per_event(decode: Decoder, records: list[bytes], now_ms: int, events: int) -> float:
    started = time.process_time()
    for record in records:
        decode(record, now_ms)
    return (time.process_time() - started) / events * 1e6


def compare(label: str, records: list[bytes], now_ms: int, repeat: int) -> tuple[float, float]:
    """Median µs per event of the reference and the fast decoder on ``records``."""
    events = sum(len(decode_reference(record, now_ms).events) for record in records)
    for record in records:  # the same decisions, and every event valid
        fast, reference = decode_fast(record, now_ms), decode_reference(record, now_ms)
        if fast.events != reference.events or fast.rejections or reference.rejections:
            raise SystemExit(f"{label}: the bench's events must all decode, alike")
    old: list[float] = []
    new: list[float] = []
    for _ in range(repeat):
        old.append(cpu_us_per_event(decode_reference, records, now_ms, events))
        new.append(cpu_us_per_event(decode_fast, records, now_ms, events))
    old_us, new_us = statistics.median(old), statistics.median(new)
    print(
        f"{label:34s} {events:7,d} events  old {old_us:6.2f} µs  new {new_us:6.2f} µs"
        f"  new/old {new_us / old_us:5.2f}  ({1e6 / new_us:9,.0f} events/s)"
    )
    return old_us, new_us


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
    bench_lines = [line for _, line in synthetic_events(10_000, min(args.events, 20_000))]

    def raw_loads() -> float:
        started = time.process_time()
        for line in lines:
            orjson.loads(line)
        return (time.process_time() - started) / len(lines) * 1e6

    print(
        f"median of {args.repeat} runs, CPU µs per valid event"
        " (old: decoding.py, new: fast_decode.py)"
    )
    floor = statistics.median(raw_loads() for _ in range(args.repeat))
    print(f"{'orjson.loads only (telemetry)':34s} {len(lines):7,d} events  {floor:6.2f} µs")
    compare("single events, generated telemetry", lines, now_ms, args.repeat)
    # The bench's events lie in its fixed month: decoded as by a worker after that month.
    compare("single events, end-to-end bench", bench_lines, MONTH_CLOSE_TICK_MS, args.repeat)
    compare("100-event batches, telemetry", batches, now_ms, args.repeat)


if __name__ == "__main__":
    main()
