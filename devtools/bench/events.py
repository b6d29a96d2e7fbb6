"""The bench's input: decoder-valid CloudEvents, with event times in one fixed month.

The worker closes a month from event time alone: a partition's watermark is the newest
event (or ``clock.tick``) time it has seen, and month M closes once the watermark passes
the start of M+1 plus the grace (``CSS_GRACE_SECONDS``, 1 h by default; the idle advance
to the wall clock is off by default and the bench never turns it on). The wall clock only
rejects events more than one day ahead of it (``future_timestamp``) and paces the live
records. So every throughput phase uses event times inside ``BENCH_MONTH`` (2026-06-01 up
to 2026-06-25, never the wall clock) and no month closes by accident of the run date; the
month-close phase closes June on purpose with a tick on July 2 (and, to last long enough,
the following months up to November, each with events of its own, as long as their ticks
are not in the future). The latency phase keeps wall-clock *differences* but shifts them
into June too (``ShiftedClock``).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator

import orjson

from scoring.timeutil import format_time_ms, parse_time_ms

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
BENCH_MONTH_START_MS = parse_time_ms("2026-06-01T00:00:00Z")
BENCH_SPAN_MS = 24 * DAY_MS  # every event of the throughput phases: June 1 up to June 25
BENCH_MONTH_END_MS = parse_time_ms("2026-07-01T00:00:00Z")
# A tick this far into July closes June whatever the grace up to a day.
MONTH_CLOSE_TICK_MS = BENCH_MONTH_END_MS + DAY_MS
LATENCY_ANCHOR_MS = parse_time_ms("2026-06-26T00:00:00Z")  # the latency run's event "now"
HEAVY_DAY_START_MS = parse_time_ms("2026-06-27T00:00:00Z")  # the heavy org's 24 h
# The month-close phase's first month: early enough that ten closes of 10,000 orgs (about
# 10 s) fit before today (a tick may not lie in the future).
MONTH_CLOSE_START_MS = parse_time_ms("2025-01-01T00:00:00Z")

# A realistic mix of the high-volume event types (spec 7), weighted by how often the
# generator of devtools/generate.py emits them; each entry: (type, source, data JSON).
_EVENT_MIX: tuple[tuple[str, str, bytes], ...] = (
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

# The org of benchmarks/bench_fold.py (one event per type of spec 7, each matching a
# signal of the default catalog), as CloudEvents: the heavy-org phase's org.
HEAVY_ORG_PROFILE: dict[str, object] = {
    "products": ["sales_cloud", "service_cloud", "data_cloud", "platform"]
}
HEAVY_ORG_TEMPLATES: tuple[tuple[str, dict[str, object]], ...] = (
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
)


def check_wall_clock(now_ms: int | None = None) -> None:
    """The fixed month must lie in the past, or the decoder rejects every event."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if now < MONTH_CLOSE_TICK_MS:
        raise RuntimeError(
            f"the bench's events are dated {format_time_ms(BENCH_MONTH_START_MS)} .. "
            f"{format_time_ms(MONTH_CLOSE_TICK_MS)}: the wall clock must be later"
        )


def org_id(index: int) -> str:
    return f"bench-org-{index:06d}"


def event_line(seq: int, org: str, time_ms: int, run: str) -> bytes:
    """One valid CloudEvent (the decoder's rules): a type of the mix chosen by ``seq``."""
    event_type, source, data = _EVENT_MIX[seq % len(_EVENT_MIX)]
    return (
        b'{"specversion":"1.0","id":"%s-%d","source":"%s","type":"%s",'
        b'"subject":"%s","time":"%s","data":%s}'
        % (
            run.encode(),
            seq,
            source.encode(),
            event_type.encode(),
            org.encode(),
            format_time_ms(time_ms).encode(),
            data,
        )
    )


def synthetic_events(
    orgs: int,
    count: int,
    start_ms: int = BENCH_MONTH_START_MS,
    span_ms: int = BENCH_SPAN_MS,
) -> Iterator[tuple[bytes, bytes]]:
    """``count`` (key, line) pairs spread evenly over ``orgs`` orgs (round robin), event
    times rising from ``start_ms`` over ``span_ms`` (strictly below its end)."""
    run = uuid.uuid4().hex[:8]  # ids differ between runs, so no phase sees a duplicate
    names = [org_id(i) for i in range(orgs)]
    for seq in range(count):
        org = names[seq % orgs]
        yield org.encode(), event_line(seq, org, start_ms + seq * span_ms // max(count, 1), run)


def batched_records(
    orgs: int,
    count: int,
    per_record: int,
    start_ms: int = BENCH_MONTH_START_MS,
    span_ms: int = BENCH_SPAN_MS,
) -> Iterator[tuple[bytes, bytes, int]]:
    """(key, array record, events): ``per_record`` consecutive events of one org each,
    ``count // orgs`` (at least 1) per org, times from ``start_ms`` over ``span_ms``."""
    run = uuid.uuid4().hex[:8]
    per_org = max(count // orgs, 1)
    seq = 0
    for index in range(orgs):
        org = org_id(index)
        for first in range(0, per_org, per_record):
            size = min(per_record, per_org - first)
            lines = []
            for step in range(size):
                time_ms = start_ms + (first + step) * span_ms // per_org
                lines.append(event_line(seq, org, time_ms, run))
                seq += 1
            yield org.encode(), b"[" + b",".join(lines) + b"]", size


def heavy_org_lines(org: str, ids: int, start_ms: int, span_ms: int, run: str) -> list[bytes]:
    """``ids`` events of ``org`` with distinct ids, times rising over ``span_ms``: an
    ``org.profile`` first, then the templates of ``HEAVY_ORG_TEMPLATES`` in a fixed
    pseudo-random order (as ``benchmarks/bench_fold.py`` builds its org)."""
    rng = random.Random(7)
    lines = []
    for index in range(ids):
        if index == 0:
            event_type, data = "org.profile", HEAVY_ORG_PROFILE
        else:
            event_type, data = HEAVY_ORG_TEMPLATES[rng.randrange(len(HEAVY_ORG_TEMPLATES))]
        event = {
            "specversion": "1.0",
            "id": f"{run}-{index}",
            "source": "bench",
            "type": event_type,
            "subject": org,
            "time": format_time_ms(start_ms + index * span_ms // max(ids, 1)),
            "data": data,
        }
        lines.append(orjson.dumps(event))
    return lines


def array_records(
    key: bytes, lines: list[bytes], per_record: int
) -> Iterator[tuple[bytes, bytes, int]]:
    """``lines`` in array records of at most ``per_record`` events, all keyed ``key``."""
    for first in range(0, len(lines), per_record):
        chunk = lines[first : first + per_record]
        yield key, b"[" + b",".join(chunk) + b"]", len(chunk)


def tick_line(time_ms: int, partition: int) -> bytes:
    """One ``clock.tick`` (as ``csscore tick`` writes it): moves a partition's watermark."""
    event = {
        "specversion": "1.0",
        "id": f"tick-{uuid.uuid4().hex}-p{partition}",
        "source": "csscore/tick",
        "type": "clock.tick",
        "subject": "clock",
        "time": format_time_ms(time_ms),
    }
    return orjson.dumps(event)


class ShiftedClock:
    """Event times for the latency run: the wall clock minus a constant, so the run's
    first event falls on ``LATENCY_ANCHOR_MS`` (in the bench month, days from any month
    close) and differences of event times are differences of wall times."""

    def __init__(self, anchor_ms: int = LATENCY_ANCHOR_MS) -> None:
        self.shift_ms = int(time.time() * 1000) - anchor_ms

    def event_ms(self) -> int:
        return int(time.time() * 1000) - self.shift_ms

    def wall_ms(self, event_ms: int) -> int:
        return event_ms + self.shift_ms
