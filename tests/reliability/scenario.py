"""Fault-injection scenarios, the offline scorer as the oracle (docs/scoring-rules.md 10).

A ``Scenario`` owns one input topic, one output topic, one DLQ and one app id (the Faust
consumer group) on a broker. It computes ``csscore score`` over the same lines
(``score_lines``), publishes them keyed by org, runs workers the test starts, kills or
restarts, then ticks every partition to the offline watermark, waits on facts (committed
offsets reach the end offsets, the output stops moving) and compares the final record per
(org, monthly, period) and the last live record per org with the offline ones.

Figures: ``lost`` counts expected keys missing from the output; ``double_counted`` counts
records that differ from the offline ones (an event applied twice changes a count, a sum
or a ratio, so it shows up as a differing record); ``unexpected`` counts keys the offline
scorer does not have.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.generate import generate_lines
from scoring.alerts import AlertRules
from scoring.timeutil import format_time_ms
from streams.cli.feed import OutRecord, plan_records, produce_records, send_ticks
from streams.codec.catalog import load_catalog
from streams.config import KafkaSecurity
from streams.pipeline.offline import OfflineResult, score_lines
from tests.kafka_helpers import create_topic, end_offsets, unique_topic
from tests.oracle import differences, final_alerts, final_records, regroup_by_org
from tests.reliability.figures import report as report
from tests.worker_harness import (
    WorkerProcess,
    committed_offsets,
    output_records,
    wait_caught_up,
)

GRACE_MS = 3_600_000  # the worker's default CSS_GRACE_SECONDS
HORIZON_MS = 86_400_000  # the worker's default CSS_DEDUP_HORIZON_SECONDS

# Faust reads these from the environment. A SIGKILLed member holds its partitions until
# its session expires (Faust's default: 60 s); a shorter session keeps every restart after
# a SIGKILL quick. Only the kill tests use it: on a loaded machine a short session can
# expire by itself and cost rebalances.
FAST_GROUP_ENV = {
    "BROKER_SESSION_TIMEOUT": "15",
    "BROKER_HEARTBEAT_INTERVAL": "1",
    "BROKER_REBALANCE_TIMEOUT": "20",
}


def now_ms() -> int:
    return int(time.time() * 1000)


def generated(
    orgs: int, months: int, seed: int, *, bad_rate: float = 0.0, dup_rate: float = 0.0
) -> tuple[list[bytes], int]:
    """Generated lines (regrouped by org) and the ``now`` they were generated for."""
    moment = now_ms()
    moment -= moment % 1000
    lines = generate_lines(
        orgs, months, seed, now=format_time_ms(moment), bad_rate=bad_rate, dup_rate=dup_rate
    )
    return regroup_by_org(lines), moment


@dataclass
class Scenario:
    """One replay through real workers, compared with the offline scorer."""

    bootstrap: str
    tmp_path: Path
    lines: list[bytes]
    generated_at_ms: int
    partitions: int = 3
    batch: int = 20
    name: str = "rel"
    dedup_horizon_ms: int = HORIZON_MS  # also give the workers CSS_DEDUP_HORIZON_SECONDS
    worker_env: Mapping[str, str] = field(default_factory=dict)
    # The address the workers use when it differs from the test's own (a SASL listener).
    worker_bootstrap: str | None = None
    security: KafkaSecurity = field(default_factory=lambda: KafkaSecurity.from_env({}))
    offline: OfflineResult = field(init=False)
    records: list[OutRecord] = field(init=False)
    input_topic: str = field(init=False)
    output_topic: str = field(init=False)
    dlq_topic: str = field(init=False)
    app_id: str = field(init=False)
    workers: list[WorkerProcess] = field(default_factory=list, init=False)
    kills: int = 0

    def __post_init__(self) -> None:
        # The worker decodes with its own wall clock: the generator's ``now`` is a little
        # earlier, so the offline future_timestamp cut-off matches within the day of slack.
        self.offline = score_lines(
            self.lines,
            load_catalog(None),
            grace_ms=GRACE_MS,
            dedup_horizon_ms=self.dedup_horizon_ms,
            now_ms=self.generated_at_ms,
            alert_rules=AlertRules(),
        )
        assert self.offline.watermark_ms is not None
        self.records = list(plan_records(self.lines, self.batch))
        self.input_topic = unique_topic(f"{self.name}-in")
        self.output_topic = unique_topic(f"{self.name}-out")
        self.dlq_topic = unique_topic(f"{self.name}-dlq")
        self.app_id = unique_topic(self.name)

    @property
    def alerts_topic(self) -> str:
        return f"{self.output_topic}.alerts"  # the WorkerProcess default

    @property
    def events(self) -> int:
        return sum(record.events for record in self.records)

    @property
    def sources(self) -> list[str]:
        return [self.input_topic, f"{self.app_id}-control"]

    async def create_input(self) -> None:
        await create_topic(self.bootstrap, self.input_topic, self.partitions)

    async def produce(self, records: list[OutRecord] | None = None) -> None:
        await produce_records(
            self.records if records is None else records,
            self.input_topic,
            bootstrap=self.bootstrap,
            security=self.security,
        )

    def worker(self, label: str, extra_env: Mapping[str, str] | None = None) -> WorkerProcess:
        worker = WorkerProcess(
            bootstrap=self.worker_bootstrap or self.bootstrap,
            app_id=self.app_id,
            input_topic=self.input_topic,
            output_topic=self.output_topic,
            dlq_topic=self.dlq_topic,
            data_dir=self.tmp_path / f"data-{label}",
            log_path=self.tmp_path / f"worker-{label}.log",
            extra_env={**self.worker_env, **(extra_env or {})},
        )
        self.workers.append(worker)
        return worker

    async def output_count(self) -> int:
        return sum((await end_offsets(self.bootstrap, self.output_topic)).values())

    async def _group_lag(self, group: str, topic: str) -> int:
        ends = await end_offsets(self.bootstrap, topic)
        committed = await committed_offsets(self.bootstrap, group, [topic])
        by_partition = {tp.partition: offset for tp, offset in committed.items()}
        return sum(max(0, end - max(by_partition.get(p, 0), 0)) for p, end in ends.items())

    async def pipeline_lag(self) -> int:
        """Records not yet committed: input records by the ingest stage (group
        ``{app_id}-ingest``) plus internal event batches by the Faust agent (group
        ``app_id``). Greater than 0 after a kill means the kill hit the replay."""
        ingest = await self._group_lag(f"{self.app_id}-ingest", self.input_topic)
        agent = await self._group_lag(self.app_id, f"{self.app_id}-events")
        return ingest + agent

    async def wait_for_output_growth(
        self, worker: WorkerProcess, since: int, timeout: float = 120.0
    ) -> None:
        """Wait until the output topic holds more than ``since`` records (the worker has
        finished starting and is scoring)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not worker.alive():
                raise AssertionError(f"worker exited:\n{worker.log_text()[-3000:]}")
            if await self.output_count() > since:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"no output within {timeout} s:\n{worker.log_text()[-3000:]}")

    async def kill_at_random_point(
        self, worker: WorkerProcess, rng: random.Random, low: float, high: float
    ) -> dict[str, Any]:
        """SIGKILL ``worker`` a random ``low``-``high`` s after its output starts growing;
        returns where (seconds, committed lag left after the kill)."""
        before = await self.output_count()
        await self.wait_for_output_growth(worker, before)
        delay = rng.uniform(low, high)
        await asyncio.sleep(delay)
        worker.kill()
        self.kills += 1
        return {"after_s": round(delay, 2), "lag_left": await self.pipeline_lag()}

    async def replay_with_random_kills(
        self, kills: int, rng: random.Random, low: float, high: float
    ) -> tuple[dict[str, Any], list[str]]:
        """Publish the input, run one worker and SIGKILL it ``kills`` times at random
        points (``kill_at_random_point``), restarting it each time, then settle and
        compare: (figures with ``kill_points`` and ``starts``, problems)."""
        await self.create_input()
        await self.produce()
        worker = self.worker("a")
        kill_points = []
        try:
            for _ in range(kills):
                worker.start()
                kill_points.append(await self.kill_at_random_point(worker, rng, low, high))
            worker.start()
            await self.settle()
        finally:
            codes = self.stop_all()
        assert codes[-1] == 0, self.logs()
        figures, problems = await self.compare()
        figures["kill_points"] = kill_points
        figures["starts"] = worker.starts
        return figures, problems

    async def settle(self, timeout: float = 300.0) -> None:
        """Catch up, tick every partition to the offline watermark, catch up again; fails
        as soon as any worker that was running when it began exits."""
        alive = [w for w in self.workers if w.alive()]
        assert alive, "no worker is running"
        work = asyncio.ensure_future(self._settle(timeout))
        watch = asyncio.ensure_future(self._watch(alive))
        done, _ = await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
        for task in (work, watch):
            if task not in done:
                task.cancel()
        for task in done:
            try:
                task.result()  # raises what failed
            except AssertionError as failure:
                raise AssertionError(f"{failure}\n{self.logs(6000)}") from None

    async def _watch(self, workers: list[WorkerProcess]) -> None:
        while True:
            for worker in workers:
                if not worker.alive():
                    raise AssertionError(
                        f"{worker.log_path.name} exited:\n{worker.log_text()[-3000:]}"
                    )
            await asyncio.sleep(0.5)

    async def _settle(self, timeout: float) -> None:
        await wait_caught_up(
            self.bootstrap, self.app_id, self.sources, self.output_topic, timeout=timeout
        )
        assert self.offline.watermark_ms is not None
        await send_ticks(
            self.input_topic,
            self.offline.watermark_ms,
            bootstrap=self.bootstrap,
            security=self.security,
        )
        await wait_caught_up(
            self.bootstrap, self.app_id, self.sources, self.output_topic, timeout=timeout
        )

    def stop_all(self) -> list[int | None]:
        return [worker.stop() for worker in self.workers if worker.process is not None]

    def wipe_state(self, worker: WorkerProcess) -> int:
        """Delete the worker's local state directory (the worker must be dead); the number
        of files removed."""
        assert not worker.alive()
        files = sum(1 for path in worker.data_dir.rglob("*") if path.is_file())
        shutil.rmtree(worker.data_dir, ignore_errors=True)
        return files

    async def compare(self) -> tuple[dict[str, Any], list[str]]:
        """(figures, problems): the final records against the offline ones."""
        produced = await output_records(self.bootstrap, self.output_topic)
        actual = final_records(produced)
        expected = final_records(self.offline.records)
        lost = sum(1 for key in expected if key not in actual)
        unexpected = sum(1 for key in actual if key not in expected)
        double_counted = sum(
            1
            for key, record in expected.items()
            if key in actual and differences({key: record}, {key: actual[key]})
        )
        figures = {
            "events": self.events,
            "input_records": len(self.records),
            "lines": len(self.lines),
            "accepted": self.offline.accepted,
            "rejected": self.offline.rejected,
            "duplicates": self.offline.duplicates,
            "kills": self.kills,
            "expected_records": len(expected),
            "output_records": len(produced),
            "lost": lost,
            "double_counted": double_counted,
            "unexpected": unexpected,
        }
        expected_alerts = final_alerts(self.offline.alerts)
        actual_alerts = final_alerts(await output_records(self.bootstrap, self.alerts_topic))
        figures["expected_alerts"] = len(expected_alerts)
        figures["alerts_lost"] = sum(1 for key in expected_alerts if key not in actual_alerts)
        figures["alerts_unexpected"] = sum(1 for key in actual_alerts if key not in expected_alerts)
        return figures, [
            *differences(expected, actual),
            *differences(expected_alerts, actual_alerts),
        ]

    def logs(self, tail: int = 2000) -> str:
        return "\n".join(f"--- {w.log_path.name}\n{w.log_text()[-tail:]}" for w in self.workers)
