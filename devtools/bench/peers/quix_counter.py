"""Peer: a minimal Quix Streams 3.x app, a per-org stateful event counter.

Reads the bench's single-event topic (JSON values keyed by org), counts events per key in
Quix's RocksDB state (with its changelog topic, as in production), and reports its rate
(``_common.RateClock``). Run by ``csscore bench``; needs the ``bench`` extra.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RateClock, parse_args


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    try:
        from quixstreams import Application
    except ImportError as exc:  # the bench extra is not installed
        RateClock(args.count).report(note=f"quixstreams not importable: {exc}")
        return 0
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=args.state_dir,
        loglevel=logging.WARNING,
    )
    topic = app.topic(args.topic, key_deserializer="str", value_deserializer="json")
    clock = RateClock(args.count)

    def count(value: dict[str, object], state: object) -> None:
        # One state read and one write per event: the per-key counter.
        seen = state.get("count", 0)  # type: ignore[attr-defined]
        state.set("count", seen + 1)  # type: ignore[attr-defined]
        clock.tick()

    sdf = app.dataframe(topic)
    sdf = sdf.update(count, stateful=True)
    # run(count=N) stops after N processed messages (Quix 3.x); nothing is collected.
    app.run(sdf, count=args.count, timeout=600, collect=False)
    clock.report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
