"""How big each phase of ``csscore bench`` is."""

from __future__ import annotations

from dataclasses import dataclass

PARTITIONS = 4
MAX_RESTARTS = 3  # worker restarts per run before the bench gives up
BATCH_EVENTS = 100  # events of one org per batched record
# The phases, in the order of a full run (``csscore bench --phase NAME`` runs some).
PHASES = (
    "raw",
    "single",
    "batched",
    "peers",
    "two-workers",
    "latency",
    "memory",
    "month-close",
    "heavy-org",
)


@dataclass(frozen=True)
class BenchSizes:
    """How big each phase is; ``quick`` shrinks everything for the smoke test.

    Every phase of the default run processes >= 200,000 events or runs >= 10 s: the
    single-event scorer does roughly 3,000-6,000 events/s on a shared 2-core machine, so
    200,000 single events (20 per org over 10,000 orgs) take about a minute; the two-worker
    input is sized from the measured single rate for ``two_worker_seconds`` of work; the
    whole default run takes about 10-13 minutes there.
    """

    orgs: int
    events: int  # raw, single-event and batched phases
    two_worker_seconds: float  # work the two-worker input is sized for (0: ``events``)
    latency_seconds: float
    memory_orgs: tuple[int, int]
    memory_events_per_org: int
    month_close_orgs: int
    month_close_events_per_org: int
    month_close_min_seconds: float  # repeat the close on later months until this long
    month_close_max_months: int
    heavy_org_ids: int
    heavy_org_small_ids: int
    faust_naive_events: int
    quiet_seconds: float
    default_interval_latency: bool  # also measure p99 at the default 1 s live interval
    scorer_timeout_s: float = 900.0  # one scorer run that takes longer fails the bench

    @classmethod
    def choose(cls, orgs: int, events: int | None, quick: bool) -> BenchSizes:
        if quick:
            return cls(
                orgs=min(orgs, 50),
                events=events or 1_000,
                two_worker_seconds=0.0,
                latency_seconds=3.0,
                memory_orgs=(50, 200),
                memory_events_per_org=2,
                month_close_orgs=min(orgs, 50),
                month_close_events_per_org=2,
                month_close_min_seconds=0.0,
                month_close_max_months=1,
                heavy_org_ids=1_000,
                heavy_org_small_ids=100,
                faust_naive_events=1_000,
                quiet_seconds=1.0,
                default_interval_latency=False,
                scorer_timeout_s=120.0,
            )
        default_events = 200_000
        return cls(
            orgs=orgs,
            events=events or default_events,
            two_worker_seconds=65.0,
            latency_seconds=20.0,
            memory_orgs=(10_000, 100_000),
            memory_events_per_org=2,
            month_close_orgs=orgs,
            month_close_events_per_org=2,
            month_close_min_seconds=10.0,
            month_close_max_months=18,  # from January 2025 (devtools.bench.events)
            heavy_org_ids=20_000,
            heavy_org_small_ids=100,
            # The naive Faust peer does ~2,000-3,000 events/s: >= 10 s of work.
            faust_naive_events=min(events or default_events, 40_000),
            quiet_seconds=2.0,
            default_interval_latency=True,
        )
