"""Peer: a minimal Faust app that updates a table once per event (the naive design).

One agent over the bench's single-event topic: decode the JSON value, increment the
org's counter in a changelog-backed table (one changelog record per event), with the
tuned stream settings the worker uses. Reports its rate
(``_common.RateClock``) and exits once ``--count`` events are processed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import faust
import orjson
from _common import RateClock, parse_args


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    app = faust.App(
        args.group,
        broker=f"kafka://{args.bootstrap}",
        store="memory://",
        datadir=args.state_dir,
        topic_partitions=4,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=False,
        stream_buffer_maxsize=16384,
        broker_max_poll_records=5000,
        web_enabled=False,
    )
    topic = app.topic(args.topic, key_type=bytes, value_type=bytes, value_serializer="raw")
    counts = app.Table("counts", default=int, partitions=4)
    clock = RateClock(args.count)

    @app.agent(topic)
    async def count(stream: faust.StreamT[bytes]) -> None:
        async for key, value in stream.items():
            orjson.loads(value)
            counts[key] += 1
            if clock.tick():
                clock.report()
                # Faust has no "stop after N": leave at once (the group is throwaway).
                os._exit(0)

    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn", "--without-web"]
    app.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
