"""SIGKILLs inside the state flush (streams.runtime.state_flush), each run compared with
``csscore score``: lost = 0 and double counted = 0.

The flush sends the changed org values to the changelogs, awaits the acknowledgements,
writes the local stores, and only then acknowledges the held input records, whose offsets
Faust commits next. The worker is killed (fault injection: ``faults/sitecustomize.py``)
between the changelog send and its acknowledgement (with batches that seal dedup chunks),
between that acknowledgement and the local write, between the records' acknowledgement and
the commit, and in a flush that runs while a rebalance revokes partitions. One run also
wipes the local state directory, so only the changelog rebuilds the tables.

The dedup horizon is 60 days here so each org remembers a few hundred ids: its writes seal
chunks every 64 accepted events and forget old ones (the deletes wait for the next flush).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.reliability.scenario import FAST_GROUP_ENV, Scenario, generated, report
from tests.worker_harness import WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.slow]

SEED = 20261204
HORIZON_S = 60 * 86_400
FAULTS = str(Path(__file__).resolve().parent / "faults")
# Flush (and commit) often, so the kills land while much input is left.
ENV = {
    **FAST_GROUP_ENV,
    "CSS_DEDUP_HORIZON_SECONDS": str(HORIZON_S),
    "CSS_COMMIT_INTERVAL_SECONDS": "0.3",
}


async def _died_by_injection(scenario: Scenario, worker: WorkerProcess) -> dict[str, object]:
    deadline = time.monotonic() + 180.0
    while worker.alive() and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert not worker.alive(), "the fault was never reached:\n" + worker.log_text()[-3000:]
    assert worker.process is not None and worker.process.returncode == -9, worker.log_text()
    assert worker.log_text().count("fault injection: SIGKILL") >= 1
    scenario.kills += 1
    return {"lag_left": await scenario.pipeline_lag()}


def _scenario(
    kafka_bootstrap: str, tmp_path: Path, name: str, seed: int, orgs: int = 12, batch: int = 5
) -> Scenario:
    lines, moment = generated(orgs, 14, seed=seed, bad_rate=0.01, dup_rate=0.05)
    return Scenario(
        kafka_bootstrap,
        tmp_path,
        lines,
        moment,
        batch=batch,
        name=name,
        dedup_horizon_ms=HORIZON_S * 1000,
        worker_env=ENV,
    )


def _assert_equal(figures: dict[str, object], problems: list[str], scenario: Scenario) -> None:
    assert figures["lost"] == 0, "\n".join(problems)
    assert figures["double_counted"] == 0, "\n".join(problems)
    assert not problems, "\n".join(problems) + "\n" + scenario.logs()


async def _trickle(scenario: Scenario, slices: int = 40, pause: float = 0.3) -> None:
    """Produce the input in slices (each org's records stay in order), so the worker
    flushes many times while records keep arriving."""
    records = scenario.records
    step = max(1, len(records) // slices)
    for start in range(0, len(records), step):
        await scenario.produce(records[start : start + step])
        await asyncio.sleep(pause)


async def _kills_then_settle(
    scenario: Scenario, kills: list[tuple[str, bool]]
) -> tuple[dict[str, object], list[str]]:
    """Start the worker with each kill point ``(POINT:N, wipe the state after)``, wait for
    the kill, then run it without faults to the end and compare."""
    await scenario.create_input()
    feed = asyncio.ensure_future(_trickle(scenario))
    worker = scenario.worker("a")
    kill_points = []
    try:
        for kill_at, wipe in kills:
            worker.extra_env = {**ENV, "PYTHONPATH": FAULTS, "CSS_TEST_KILL_AT": kill_at}
            worker.start()
            point = await _died_by_injection(scenario, worker)
            point["at"] = kill_at
            if wipe:
                point["wiped_files"] = scenario.wipe_state(worker)
            kill_points.append(point)
        worker.extra_env = ENV
        worker.start()
        await feed
        await scenario.settle()
    finally:
        feed.cancel()
        codes = scenario.stop_all()
    assert codes[-1] == 0, scenario.logs()
    figures, problems = await scenario.compare()
    figures["kill_points"] = kill_points
    return figures, problems


@pytest.mark.timeout(600)
def test_sigkill_between_a_changelog_send_and_its_ack(kafka_bootstrap: str, tmp_path: Path) -> None:
    scenario = _scenario(kafka_bootstrap, tmp_path, "chunk", SEED)
    kills = [("chunk_sent:4", False), ("chunk_sent:3", True)]
    figures, problems = asyncio.run(_kills_then_settle(scenario, kills))
    report("sigkill between a changelog send (sealing chunks) and its ack", figures)
    assert figures["kills"] == 2
    assert all(point["lag_left"] > 0 for point in figures["kill_points"])  # type: ignore[attr-defined]
    assert figures["duplicates"] > 0  # the dedup memory had work to do
    _assert_equal(figures, problems, scenario)


@pytest.mark.timeout(600)
def test_sigkill_after_the_changelog_ack_and_after_the_records_ack(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    # Before the local store is written (it is behind the changelog: recovery replays it),
    # and after the held records are acknowledged but before Faust commits their offsets.
    scenario = _scenario(kafka_bootstrap, tmp_path, "acks", SEED + 1)
    kills = [("changelog_acked:4", False), ("events_acked:3", False), ("changelog_acked:1", True)]
    figures, problems = asyncio.run(_kills_then_settle(scenario, kills))
    report("sigkill after the changelog ack / after the records' ack", figures)
    assert figures["kills"] == 3
    # The kills hit the replay (the last one may come once the input is all read: then it
    # hits a flush of wake-up records, which this count leaves out).
    hits = [point["lag_left"] > 0 for point in figures["kill_points"]]  # type: ignore[attr-defined]
    assert sum(hits) >= 2, figures["kill_points"]
    _assert_equal(figures, problems, scenario)


@pytest.mark.timeout(600)
def test_sigkill_in_a_flush_during_a_rebalance(kafka_bootstrap: str, tmp_path: Path) -> None:
    # Worker a scores alone; worker b joins, so a flushes while its partitions are revoked,
    # and dies there with its changelog batches sent but not acknowledged. b takes over;
    # a comes back without the fault; the records they produce together must match.
    scenario = _scenario(kafka_bootstrap, tmp_path, "revoke", SEED + 2, orgs=24, batch=2)

    async def run() -> tuple[dict[str, object], list[str]]:
        await scenario.create_input()
        feed = asyncio.ensure_future(_trickle(scenario, slices=60))
        first, second = scenario.worker("a"), scenario.worker("b")
        try:
            first.extra_env = {**ENV, "PYTHONPATH": FAULTS, "CSS_TEST_KILL_AT": "rebalance_sent:1"}
            first.start()
            await scenario.wait_for_output_growth(first, 0)
            second.start()
            point = await _died_by_injection(scenario, first)
            first.extra_env = ENV
            first.start()
            await feed
            await scenario.settle()
        finally:
            feed.cancel()
            codes = scenario.stop_all()
        assert codes == [0, 0], scenario.logs()
        figures, problems = await scenario.compare()
        figures["kill_points"] = [point]
        figures["workers"] = 2
        return figures, problems

    figures, problems = asyncio.run(run())
    report("sigkill in a flush during a rebalance", figures)
    assert figures["kills"] == 1
    _assert_equal(figures, problems, scenario)


@pytest.mark.timeout(600)
def test_no_commit_passes_an_unacknowledged_changelog_batch(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    # Faust's producer flush gives up after one 0.1 s wait (here it returns at once) and
    # every changelog batch is acknowledged 0.4 s late: the commits must still wait for
    # them, because the flush awaits its own batches before acknowledging any record.
    scenario = _scenario(kafka_bootstrap, tmp_path, "slow", SEED + 3)

    async def run() -> tuple[dict[str, object], list[str]]:
        await scenario.create_input()
        feed = asyncio.ensure_future(_trickle(scenario, slices=20))
        slow = {**ENV, "PYTHONPATH": FAULTS, "CSS_TEST_SLOW_CHANGELOG_SECONDS": "0.4"}
        worker = scenario.worker("a", slow)
        try:
            worker.start()
            await feed
            await scenario.settle()
        finally:
            feed.cancel()
            codes = scenario.stop_all()
        assert codes == [0], scenario.logs()
        return await scenario.compare()

    figures, problems = asyncio.run(run())
    report("commits with changelog acks 0.4 s late and no producer flush", figures)
    log = scenario.workers[0].log_text()
    assert "commit checked, no changelog batch unacknowledged" in log
    assert "changelog batches unacknowledged" not in log, log[-3000:]
    _assert_equal(figures, problems, scenario)
