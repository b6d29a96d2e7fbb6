"""Shared bits of the peer apps: arguments and the one JSON line each prints.

A peer processes ``--count`` events of ``--topic`` from the beginning in consumer group
``--group``, timing from its first processed event to its last, and prints
``{"events": N, "seconds": S, "events_per_s": R}`` on stdout (``csscore bench`` reads it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--count", type=int, required=True, help="stop after this many events")
    parser.add_argument("--state-dir", required=True)
    return parser.parse_args()


class RateClock:
    """Counts processed events; the span runs from the first to the last one."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.seen = 0
        self.first = 0.0
        self.last = 0.0

    def tick(self) -> bool:
        """Count one event; True once the target is reached."""
        now = time.perf_counter()
        if self.seen == 0:
            self.first = now
        self.seen += 1
        self.last = now
        return self.seen >= self.target

    def report(self, note: str = "") -> None:
        seconds = max(self.last - self.first, 1e-9)
        rate = self.seen / seconds if self.seen > 1 else None
        line = {"events": self.seen, "seconds": round(seconds, 3), "events_per_s": rate}
        if note:
            line["note"] = note
        # Straight to file descriptor 1: Faust replaces sys.stdout with a logger.
        os.write(1, (json.dumps(line) + "\n").encode())
        print(f"processed {self.seen} events in {seconds:.2f} s", file=sys.stderr, flush=True)
