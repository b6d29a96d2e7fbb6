"""Synthetic telemetry for demos and tests (``csscore generate``).

Writes JSON lines in arrival order: every event type of spec 7, for orgs with different
product mixes (core CRM orgs, field-service orgs, data-cloud orgs, commerce-only orgs that
have no technical health), seasonality, growth or decline, error bursts, orgs that start
late or go quiet. Optionally mixes in poison of every reason code, producer retries
(duplicates within minutes), repeats older than the dedup horizon, and late arrivals.

Determinism: the output depends only on the arguments (one ``random.Random(seed)``, no wall
clock). When ``now`` is not given it is the end of the generated range plus one day, so
no generated valid event is ``future_timestamp``; valid events are never dated after
``now``. When ``start`` is not given the range ends with the month before ``now``'s month
(or, without ``now`` either, starts at ``DEFAULT_START``).

Memory stays bounded by about one month of events: each month's events go into a heap
ordered by arrival time and are written once the next month begins.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import orjson

from scoring.timeutil import (
    DAY_MS,
    HOUR_MS,
    format_time_ms,
    month_of,
    month_start_ms,
    parse_period,
)

DEFAULT_START = "2025-01"
MINUTE_MS = 60_000
# Generated poison reasons (too_large lines are over 1 MiB, so they are kept rare).
POISON_CYCLE = ("invalid_json", "schema_violation", "unknown_type", "future_timestamp", "too_old")
TOO_LARGE_EVERY = 100  # one poison in this many is too_large (the first at poison #7)
# add(event_type, data, time_ms=None): the per-month event collector of _month_events.
_Add = Callable[..., None]
CORE_PRODUCTS = ("sales_cloud", "service_cloud", "field_service", "platform")

# Line kinds reported by generate_records, so tests know what each line is meant to be.
KIND_EVENT = "event"
KIND_LATE = "late"  # a valid event arriving days to weeks after its time
KIND_DUPLICATE = "duplicate"  # the same line again within minutes (producer retry)
KIND_OLD_REPEAT = "old_repeat"  # the same line again days later (beyond the horizon)
POISON_PREFIX = "poison:"

SOURCES = {
    "org.profile": "crm/accounts",
    "license.purchased": "billing/contracts",
    "license.activated": "identity/users",
    "license.deactivated": "identity/users",
    "credits.provisioned": "billing/credits",
    "credits.consumed": "data-cloud/meter",
    "work_order.created": "field-service/app",
    "case.created": "service/app",
    "order.placed": "commerce/storefront",
    "feature.used": "service/app",
    "review.completed": "success/portal",
    "learning.completed": "trailhead",
    "coaching.attended": "success/coaching",
    "error.occurred": "platform/logs",
    "performance.sampled": "platform/rum",
    "alert.triggered": "platform/monitoring",
    "customization.reviewed": "success/portal",
    "config.changed": "platform/setup",
}


@dataclass
class OrgProfile:
    """The hidden traits that make one synthetic org behave differently from another."""

    org_id: str
    products: list[str]
    first_month: int
    quiet_after: int | None  # last active month for an org that goes quiet
    growth: float  # monthly multiplicative trend of volumes
    season_amplitude: float
    season_phase: float
    activation_ratio: float  # share of purchased licences that get activated
    error_rate: float  # chance of an apex error on a given day
    ept_mean: float  # page time in ms (good 1500, bad 5000)
    learning_rate: float
    review_rate: float
    coaching_rate: float
    alert_rate: float
    uses_swarming: bool
    event_monitoring: bool
    health_check: float
    credit_use: float  # share of provisioned data-cloud credits consumed
    seats: dict[str, int] = field(default_factory=dict)
    active: dict[str, int] = field(default_factory=dict)  # running activated licences
    credits: int = 0  # latest provisioned data-cloud credits


@dataclass
class Summary:
    """What a generation run wrote (printed on stderr by the command)."""

    events: int = 0
    late: int = 0
    duplicates: int = 0
    old_repeats: int = 0
    poison: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        poison = " ".join(f"{reason}={self.poison[reason]}" for reason in sorted(self.poison))
        return (
            f"events={self.events} late={self.late} duplicates={self.duplicates} "
            f"old_repeats={self.old_repeats} poison={sum(self.poison.values())}"
            + (f" ({poison})" if poison else "")
        )


def resolve_range(months: int, start: str | None, now: str | int | None) -> tuple[int, int, int]:
    """(first month index, number of months, now_ms) per the module's defaults."""
    from scoring.timeutil import parse_time_ms

    now_ms = parse_time_ms(now) if isinstance(now, str) else now
    if start is not None:
        first = parse_period(start)
    elif now_ms is not None:
        first = month_of(now_ms) - months
    else:
        first = parse_period(DEFAULT_START)
    if now_ms is None:
        now_ms = month_start_ms(first + months) + DAY_MS
    return first, months, now_ms


class TelemetryGenerator:
    """Generates the lines of one run; ``records()`` yields (line, kind)."""

    def __init__(
        self,
        orgs: int,
        months: int,
        seed: int,
        start: str | None = None,
        now: str | int | None = None,
        bad_rate: float = 0.0,
        dup_rate: float = 0.0,
    ) -> None:
        if orgs < 1 or months < 1:
            raise ValueError("orgs and months must be >= 1")
        if not (0.0 <= bad_rate < 1.0 and 0.0 <= dup_rate < 1.0):
            raise ValueError("rates must be in [0, 1)")
        self.first_month, self.months, self.now_ms = resolve_range(months, start, now)
        self.rng = random.Random(seed)
        self.bad_rate = bad_rate
        self.dup_rate = dup_rate
        self.summary = Summary()
        self._counter = 0
        self._heap: list[tuple[int, int, bytes, str]] = []
        self._latest_time: dict[str, int] = {}  # org -> latest valid event time written
        self._poison_count = 0
        self.profiles = [self._make_profile(index) for index in range(orgs)]

    # --- orgs -------------------------------------------------------------------------

    def _make_profile(self, index: int) -> OrgProfile:
        rng = self.rng
        mix = rng.random()
        if mix < 0.15:
            products = ["commerce_cloud"]  # commerce-only: no technical health
        elif mix < 0.35:
            products = ["sales_cloud", "data_cloud", "platform"]
        elif mix < 0.6:
            products = ["service_cloud", "field_service", "platform"]
        elif mix < 0.8:
            products = ["sales_cloud", "service_cloud", "platform"]
        else:
            products = ["sales_cloud", "service_cloud", "field_service", "commerce_cloud"]
        late_start = rng.random() < 0.2 and self.months > 3
        first = self.first_month + (rng.randrange(1, self.months // 2 + 1) if late_start else 0)
        quiet_after = None
        if rng.random() < 0.1 and first < self.first_month + self.months - 2:
            quiet_after = rng.randrange(first + 1, self.first_month + self.months - 1)
        seats = {
            product: rng.choice((10, 25, 50, 100, 250, 500))
            for product in products
            if product in ("sales_cloud", "service_cloud", "field_service")
        }
        return OrgProfile(
            org_id=f"org-{index:05d}",
            products=products,
            first_month=first,
            quiet_after=quiet_after,
            growth=rng.uniform(-0.05, 0.06),
            season_amplitude=rng.uniform(0.0, 0.35),
            season_phase=rng.uniform(0, 2 * math.pi),
            activation_ratio=rng.uniform(0.2, 1.1),
            credit_use=rng.uniform(0.2, 1.3),
            error_rate=rng.choice((0.0, 0.02, 0.1, 0.3, 0.6)),
            ept_mean=rng.uniform(900, 6000),
            learning_rate=rng.choice((0.0, 0.3, 1.0, 2.5)),
            review_rate=rng.choice((0.0, 0.05, 0.15, 0.3)),
            coaching_rate=rng.choice((0.0, 0.05, 0.2)),
            alert_rate=rng.choice((0.0, 0.3, 1.0, 3.0)),
            uses_swarming=rng.random() < 0.5,
            event_monitoring=rng.random() < 0.6,
            health_check=rng.choice((35.0, 58.5, 72.0, 88.25, 100.0)),
            seats=seats,
        )

    # --- events -----------------------------------------------------------------------

    def _event(
        self, org: OrgProfile, event_type: str, time_ms: int, data: dict[str, object] | None
    ) -> dict[str, object]:
        self._counter += 1
        event: dict[str, object] = {
            "specversion": "1.0",
            "id": f"{self._counter:09d}-{self.rng.getrandbits(32):08x}",
            "source": SOURCES[event_type],
            "type": event_type,
            "subject": org.org_id,
            "time": format_time_ms(time_ms),
        }
        if data is not None:
            event["data"] = data
        return event

    def _volume(self, org: OrgProfile, month: int, base: float) -> int:
        """Events of one kind in a month: base x trend x season x noise."""
        age = month - org.first_month
        season = 1 + org.season_amplitude * math.sin(
            2 * math.pi * (month % 12) / 12 + org.season_phase
        )
        expected = base * (1 + org.growth) ** age * season * self.rng.uniform(0.75, 1.25)
        return max(0, round(expected))

    def _month_events(self, org: OrgProfile, month: int) -> list[dict[str, object]]:
        rng = self.rng
        start = month_start_ms(month)
        end = min(month_start_ms(month + 1), self.now_ms + 1)
        if end <= start:
            return []
        age = month - org.first_month
        events: list[dict[str, object]] = []

        def at() -> int:
            return rng.randrange(start, end)

        def add(
            event_type: str, data: dict[str, object] | None, time_ms: int | None = None
        ) -> None:
            events.append(self._event(org, event_type, at() if time_ms is None else time_ms, data))

        if age == 0 or rng.random() < 0.03:
            add("org.profile", {"products": list(org.products)})
        for product, seats in org.seats.items():
            if age == 0 or (age % 12 == 0 and rng.random() < 0.5):
                seats = max(1, round(seats * rng.uniform(0.9, 1.3))) if age else seats
                org.seats[product] = seats
                add("license.purchased", {"product": product, "quantity": seats})
            # Activations chase the org's target share of its seats (ramping up over the
            # first months) as a running total, so the licence ratio varies between orgs.
            active = org.active.get(product, 0)
            ramp = min(1.0, (age + 1) / 4)
            target = round(seats * min(1.0, org.activation_ratio) * ramp)
            missing = target - active
            if missing > 0:
                steps = min(missing, rng.randint(1, 4))
                for step in range(steps):
                    count = missing // steps + (1 if step < missing % steps else 0)
                    add("license.activated", {"product": product, "count": count})
                active = target
            if active > 3 and rng.random() < 0.3:
                leaving = rng.randint(1, 3)
                add("license.deactivated", {"product": product, "count": leaving})
                active -= leaving
            org.active[product] = active
        if "data_cloud" in org.products:
            if age % 12 == 0:
                org.credits = rng.choice((50_000, 100_000, 250_000))
                add("credits.provisioned", {"product": "data_cloud", "credits": org.credits})
            # Monthly use around the org's share of a twelfth of its provisioned credits.
            uses = max(1, self._volume(org, month, 8))
            budget = org.credits / 12 * org.credit_use
            for _ in range(uses):
                credits = round(budget / uses * rng.uniform(0.6, 1.4), 2)
                add("credits.consumed", {"product": "data_cloud", "credits": credits})
        if "field_service" in org.products:
            for _ in range(self._volume(org, month, 30)):
                add("work_order.created", self._with_count({"product": "field_service"}))
        if "service_cloud" in org.products:
            for _ in range(self._volume(org, month, 40)):
                add("case.created", self._with_count({"product": "service_cloud"}))
            if org.uses_swarming and rng.random() < 0.7:
                for _ in range(rng.randint(1, 5)):
                    add("feature.used", {"product": "service_cloud", "feature": "swarming"})
            if rng.random() < 0.5:
                add("feature.used", {"product": "service_cloud", "feature": "omni_channel"})
        if "commerce_cloud" in org.products:
            for _ in range(self._volume(org, month, 60)):
                add("order.placed", self._with_count({"product": "commerce_cloud"}))
        if "sales_cloud" in org.products and rng.random() < 0.6:
            add("feature.used", {"product": "sales_cloud", "feature": "forecasting"})
        if rng.random() < org.review_rate:
            add("review.completed", {"program": "proactive_monitoring", "review": "threshold"})
        if rng.random() < 0.05:
            add("review.completed", {"program": "success_plan", "review": "quarterly"})
        for _ in range(self._poisson(org.learning_rate)):
            add(
                "learning.completed",
                {"kind": rng.choice(("badge", "badge", "trail", "certification"))},
            )
        if rng.random() < org.coaching_rate:
            add(
                "coaching.attended",
                {"topic": rng.choice(("reports", "automation", "security"))}
                if rng.random() < 0.7
                else None,
            )
        if any(product in CORE_PRODUCTS for product in org.products):
            self._technical_events(org, month, start, end, add)
        return events

    def _technical_events(
        self, org: OrgProfile, month: int, start: int, end: int, add: _Add
    ) -> None:
        rng = self.rng
        burst = rng.random() < 0.12  # an error burst month: most days see errors
        rate = 0.8 if burst else org.error_rate
        for day_start in range(start, end, DAY_MS):
            day_end = min(day_start + DAY_MS, end)
            if rng.random() < rate:
                add(
                    "error.occurred",
                    {"source": "apex", "count": rng.randint(1, 40 if burst else 5)},
                    rng.randrange(day_start, day_end),
                )
            if rng.random() < 0.1:
                add("error.occurred", {"source": "flow"}, rng.randrange(day_start, day_end))
            if rng.random() < 0.8:
                value = max(100.0, rng.gauss(org.ept_mean, org.ept_mean * 0.15))
                add(
                    "performance.sampled",
                    {"metric": "ept_ms", "value": round(value, 1), "count": rng.randint(20, 400)},
                    rng.randrange(day_start, day_end),
                )
        for _ in range(self._poisson(org.alert_rate * (3 if burst else 1))):
            add(
                "alert.triggered",
                {
                    "severity": "critical" if rng.random() < 0.3 else "warning",
                    "metric": rng.choice(("api_usage", "storage", "apex_cpu")),
                },
            )
        if rng.random() < 0.08:
            add("customization.reviewed", None)
        if month == org.first_month or rng.random() < 0.05:
            enabled = org.event_monitoring if rng.random() < 0.9 else not org.event_monitoring
            add("config.changed", {"setting": "event_monitoring_enabled", "value": enabled})
        if month == org.first_month or rng.random() < 0.1:
            score = min(100.0, max(0.0, org.health_check + rng.uniform(-8, 8)))
            add(
                "config.changed",
                {"setting": "security_health_check_score", "value": round(score, 2)},
            )

    def _with_count(self, data: dict[str, object]) -> dict[str, object]:
        if self.rng.random() < 0.3:
            data["count"] = self.rng.randint(2, 6)
        return data

    def _poisson(self, mean: float) -> int:
        # Knuth's method; means here are small.
        limit, k, product = math.exp(-mean), 0, self.rng.random()
        while product > limit:
            k += 1
            product *= self.rng.random()
        return k

    # --- arrival order, repeats and poison ------------------------------------------------

    def _schedule(self, event: dict[str, object], time_ms: int) -> None:
        line = orjson.dumps(event)
        arrival, kind = time_ms, KIND_EVENT
        if self.rng.random() < 0.02:
            arrival, kind = time_ms + self.rng.randrange(DAY_MS, 21 * DAY_MS), KIND_LATE
        self._push(arrival, line, kind)
        if self.rng.random() < self.dup_rate:
            if self.rng.random() < 0.05:
                self._push(
                    arrival + self.rng.randrange(2 * DAY_MS, 6 * DAY_MS), line, KIND_OLD_REPEAT
                )
            else:
                self._push(
                    arrival + self.rng.randrange(MINUTE_MS, 10 * MINUTE_MS), line, KIND_DUPLICATE
                )

    def _push(self, arrival: int, line: bytes, kind: str) -> None:
        self._counter += 1
        heapq.heappush(self._heap, (arrival, self._counter, line, kind))

    def _drain(self, until_ms: int | None) -> Iterator[tuple[bytes, str]]:
        heap = self._heap
        while heap and (until_ms is None or heap[0][0] < until_ms):
            _, _, line, kind = heapq.heappop(heap)
            if self.bad_rate and self.rng.random() < self.bad_rate and self._latest_time:
                yield self._poison()
            if kind == KIND_EVENT:
                self.summary.events += 1
            elif kind == KIND_LATE:
                self.summary.events += 1
                self.summary.late += 1
            elif kind == KIND_DUPLICATE:
                self.summary.duplicates += 1
            else:
                self.summary.old_repeats += 1
            if kind in (KIND_EVENT, KIND_LATE):
                event = orjson.loads(line)
                org = event["subject"]
                time_ms = _time_of(event)
                if event["type"] != "clock.tick" and time_ms > self._latest_time.get(org, -1):
                    self._latest_time[org] = time_ms
            yield line, kind

    def _poison(self) -> tuple[bytes, str]:
        self._poison_count += 1
        if self._poison_count % TOO_LARGE_EVERY == 7:
            reason = "too_large"
        else:
            reason = POISON_CYCLE[self._poison_count % len(POISON_CYCLE)]
        self.summary.poison[reason] += 1
        rng = self.rng
        org_id = rng.choice(sorted(self._latest_time))
        org = next(p for p in self.profiles if p.org_id == org_id)
        latest = self._latest_time[org_id]
        base = self._event(org, "case.created", latest, {"product": "service_cloud"})
        if reason == "invalid_json":
            variant = rng.randrange(4)
            text = orjson.dumps(base)
            if variant == 0:
                line = text[: len(text) // 2]  # a cut-off line
            elif variant == 1:
                line = text[:-1] + b',"data2":NaN}'
            elif variant == 2:
                line = text[:-1] + b',"x":1e400}'  # overflows a double
            else:
                line = text.replace(b'"type":', b"'type':")
        elif reason == "schema_violation":
            variant = rng.randrange(8)
            if variant == 0:
                base["data"] = {"product": "service_cloud", "count": 0}
            elif variant == 1:
                base["data"] = {"product": "service_cloud", "count": 2.0}
            elif variant == 2:
                base["data"] = {"product": ""}
            elif variant == 3:
                del base["subject"]
            elif variant == 4:
                base["time"] = str(base["time"]).replace("T", " ")
            elif variant == 5:
                base["time"] = str(base["time"])[:17] + "60Z"  # leap second
            elif variant == 6:
                base["specversion"] = "0.3"
            else:
                base["type"] = "alert.triggered"
                base["data"] = {"severity": "info", "metric": "storage"}
            line = orjson.dumps(base)
        elif reason == "unknown_type":
            base["type"] = rng.choice(("invoice.paid", "case.closed", "Case.Created"))
            line = orjson.dumps(base)
        elif reason == "future_timestamp":
            future = self.now_ms + 2 * DAY_MS + rng.randrange(HOUR_MS, 30 * DAY_MS)
            base["time"] = format_time_ms(future)
            line = orjson.dumps(base)
        elif reason == "too_old":
            # Spec 9: more than 13 months before the month of the org's latest event.
            old_month = month_of(latest) - 15
            base["time"] = format_time_ms(month_start_ms(old_month) + rng.randrange(0, 27 * DAY_MS))
            line = orjson.dumps(base)
        else:  # too_large: a valid event made huge by an unknown field
            base["data"] = {"product": "service_cloud", "padding": "x" * (1024 * 1024 + 1000)}
            line = orjson.dumps(base)
        return line, POISON_PREFIX + reason

    def records(self) -> Iterator[tuple[bytes, str]]:
        """(line, kind) in arrival order; kind is event/late/duplicate/old_repeat/poison:R."""
        for month in range(self.first_month, self.first_month + self.months):
            for org in self.profiles:
                if month < org.first_month or (
                    org.quiet_after is not None and month > org.quiet_after
                ):
                    continue
                for event in self._month_events(org, month):
                    self._schedule(event, _time_of(event))
            # A clock.tick just after the month's grace (1 h) keeps watermarks moving for
            # idle partitions, as a deployment's tick command would.
            tick_ms = month_start_ms(month + 1) + HOUR_MS + 1000
            if tick_ms <= self.now_ms:
                self._counter += 1
                tick = {
                    "specversion": "1.0",
                    "id": f"tick-{self._counter:09d}",
                    "source": "csscore/tick",
                    "type": "clock.tick",
                    "subject": "clock",
                    "time": format_time_ms(tick_ms),
                }
                self._push(tick_ms, orjson.dumps(tick), KIND_EVENT)
            yield from self._drain(month_start_ms(month + 1))
        yield from self._drain(None)


def _time_of(event: dict[str, object]) -> int:
    from scoring.timeutil import parse_time_ms

    return parse_time_ms(str(event["time"]))


def generate_records(
    orgs: int,
    months: int,
    seed: int,
    start: str | None = None,
    now: str | int | None = None,
    bad_rate: float = 0.0,
    dup_rate: float = 0.0,
) -> Iterator[tuple[bytes, str]]:
    """(line, kind) pairs; see ``TelemetryGenerator.records``."""
    return TelemetryGenerator(orgs, months, seed, start, now, bad_rate, dup_rate).records()


def generate_lines(
    orgs: int,
    months: int,
    seed: int,
    start: str | None = None,
    now: str | int | None = None,
    bad_rate: float = 0.0,
    dup_rate: float = 0.0,
) -> Iterator[bytes]:
    """The JSON lines (without newline) of a run, in arrival order."""
    for line, _ in generate_records(orgs, months, seed, start, now, bad_rate, dup_rate):
        yield line
