"""Worker faults with the offline scorer as the oracle.

1. SIGKILL the worker three times at random points of a replay of >= 50,000 events,
   restarting it each time;
2. two workers, one SIGKILLed mid-stream, a third joins (rebalance under load);
3. the local state directory wiped after a SIGKILL (recovery from the changelog only);
4. two workers starting together on a new consumer group with the whole input already
   written: the rebalance lands on partitions that have no committed offset yet (the
   case ``streams/rewind.py`` fixes; before it the groups never caught up).

Each ends with every partition ticked to the offline watermark and asserts that the final
record per (org, monthly, period) and the last live record per org equal ``csscore
score``'s: lost = 0 and double counted = 0.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from tests.reliability.scenario import FAST_GROUP_ENV, Scenario, generated, report

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.slow]

SEED = 20261127


def _assert_equal(figures: dict[str, object], problems: list[str], logs: str) -> None:
    assert figures["lost"] == 0, "\n".join(problems)
    assert figures["double_counted"] == 0, "\n".join(problems)
    assert not problems, "\n".join(problems) + "\n" + logs


@pytest.mark.timeout(600)
def test_three_sigkills_during_a_replay(kafka_bootstrap: str, tmp_path: Path) -> None:
    lines, moment = generated(40, 14, seed=SEED, bad_rate=0.01, dup_rate=0.05)
    scenario = Scenario(
        kafka_bootstrap, tmp_path, lines, moment, batch=10, name="kill3", worker_env=FAST_GROUP_ENV
    )
    assert scenario.events >= 50_000
    rng = random.Random(SEED)
    # Early enough to land mid-replay on a fast worker (each start replays the rest).
    figures, problems = asyncio.run(scenario.replay_with_random_kills(3, rng, 0.3, 1.2))
    report("sigkill x3", figures)
    assert figures["kills"] == 3
    # Every kill left input uncommitted: it happened during the replay, not after it.
    assert all(point["lag_left"] > 0 for point in figures["kill_points"])  # type: ignore[attr-defined]
    _assert_equal(figures, problems, scenario.logs())


@pytest.mark.timeout(300)
def test_two_workers_one_killed_a_third_joins(kafka_bootstrap: str, tmp_path: Path) -> None:
    lines, moment = generated(16, 14, seed=SEED + 1, bad_rate=0.01, dup_rate=0.05)
    scenario = Scenario(
        kafka_bootstrap, tmp_path, lines, moment, batch=5, name="rebal", worker_env=FAST_GROUP_ENV
    )
    rng = random.Random(SEED + 1)

    async def run() -> tuple[dict[str, object], list[str]]:
        await scenario.create_input()
        await scenario.produce()
        first, second = scenario.worker("a"), scenario.worker("b")
        first.start()
        second.start()
        try:
            kill_point = await scenario.kill_at_random_point(first, rng, 0.5, 2.5)
            assert second.alive(), second.log_text()[-3000:]
            third = scenario.worker("c")
            third.start()  # joins while the survivor is mid-stream: a rebalance under load
            await scenario.settle()
            survivors_alive = second.alive() and third.alive()
        finally:
            codes = scenario.stop_all()
        assert survivors_alive, scenario.logs()
        assert codes[1:] == [0, 0], scenario.logs()
        figures, problems = await scenario.compare()
        figures["workers"] = 3
        figures["kill_point"] = kill_point
        return figures, problems

    figures, problems = asyncio.run(run())
    report("two workers, one killed, one joins", figures)
    assert figures["kill_point"]["lag_left"] > 0  # type: ignore[index]
    _assert_equal(figures, problems, scenario.logs())


@pytest.mark.timeout(300)
def test_state_directory_wiped_after_a_sigkill(kafka_bootstrap: str, tmp_path: Path) -> None:
    lines, moment = generated(12, 14, seed=SEED + 2, bad_rate=0.01, dup_rate=0.05)
    scenario = Scenario(
        kafka_bootstrap, tmp_path, lines, moment, batch=5, name="wipe", worker_env=FAST_GROUP_ENV
    )
    rng = random.Random(SEED + 2)

    async def run() -> tuple[dict[str, object], list[str]]:
        await scenario.create_input()
        await scenario.produce()
        worker = scenario.worker("a")
        worker.start()
        try:
            kill_point = await scenario.kill_at_random_point(worker, rng, 1.0, 3.0)
            wiped_files = scenario.wipe_state(worker)
            assert not worker.data_dir.exists()
            worker.start()  # only the changelog topics can rebuild the tables now
            await scenario.settle()
        finally:
            codes = scenario.stop_all()
        assert codes == [0], scenario.logs()
        figures, problems = await scenario.compare()
        figures["kill_point"] = kill_point
        figures["wiped_files"] = wiped_files
        return figures, problems

    figures, problems = asyncio.run(run())
    report("state dir wiped after sigkill", figures)
    assert figures["wiped_files"] > 0  # there was local state to lose
    _assert_equal(figures, problems, scenario.logs())


@pytest.mark.timeout(300)
def test_two_workers_start_together_on_a_new_group(kafka_bootstrap: str, tmp_path: Path) -> None:
    lines, moment = generated(10, 3, seed=SEED + 3)
    scenario = Scenario(kafka_bootstrap, tmp_path, lines, moment, batch=1, name="pair")

    async def run() -> tuple[dict[str, object], list[str]]:
        await scenario.create_input()
        await scenario.produce()
        workers = [scenario.worker("a"), scenario.worker("b")]
        for worker in workers:
            worker.start()
        try:
            # settle() fails unless both groups commit every offset (caught up).
            await scenario.settle(timeout=180.0)
            both_alive = all(worker.alive() for worker in workers)
        finally:
            codes = scenario.stop_all()
        assert both_alive, scenario.logs()
        assert codes == [0, 0], scenario.logs()
        figures, problems = await scenario.compare()
        figures["workers"] = 2
        return figures, problems

    figures, problems = asyncio.run(run())
    report("two workers start together", figures)
    _assert_equal(figures, problems, scenario.logs())


@pytest.mark.timeout(600)
def test_sigkills_while_first_records_span_more_than_13_months(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Each org's history arrives in records of up to 5,000 events, so an org's first
    record spans up to its whole 30 months: every closed month it covers owes a
    revision-0 record, older ones than the 13 months a late event can reach included,
    and the pass prunes months past the 26-month retention. SIGKILLs during the replay
    must not lose any of those records. (A redelivered record re-emits only the last 13
    months: older records read months the retention prunes, so the pass that owes them
    waits for their acks before writing the org's value.)"""
    lines, moment = generated(30, 30, seed=SEED + 4, bad_rate=0.01, dup_rate=0.05)
    scenario = Scenario(
        kafka_bootstrap,
        tmp_path,
        lines,
        moment,
        batch=5_000,
        name="longfirst",
        worker_env=FAST_GROUP_ENV,
    )
    months_in_first = [record.events for record in scenario.records if record.events > 1]
    assert max(months_in_first) >= 1_000  # whole histories in one record
    rng = random.Random(SEED + 4)
    figures, problems = asyncio.run(scenario.replay_with_random_kills(2, rng, 0.1, 0.8))
    report("sigkills, first records over 13 months", figures)
    assert figures["kills"] == 2
    assert any(point["lag_left"] > 0 for point in figures["kill_points"])  # type: ignore[attr-defined]
    _assert_equal(figures, problems, scenario.logs())
