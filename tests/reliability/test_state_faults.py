"""An org write is two table writes when it seals a dedup chunk: the chunk, then the org's
value (streams.runtime.org_store). SIGKILL the worker between the two, twice (the second
time the local state directory is wiped, so only the changelog rebuilds the tables), then
compare with ``csscore score``: lost = 0 and double counted = 0.

The dedup horizon is 60 days here so each org remembers a few hundred ids: its writes seal
chunks every 64 accepted events and forget old ones (the deletes wait for the value).
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


async def _died_by_injection(scenario: Scenario, worker: WorkerProcess) -> dict[str, object]:
    deadline = time.monotonic() + 180.0
    while worker.alive() and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert not worker.alive(), "the fault was never reached:\n" + worker.log_text()[-3000:]
    assert worker.process is not None and worker.process.returncode == -9, worker.log_text()
    assert worker.log_text().count("fault injection: SIGKILL") == worker.starts
    scenario.kills += 1
    return {"lag_left": await scenario.pipeline_lag()}


@pytest.mark.timeout(600)
def test_sigkill_between_a_dedup_chunk_and_its_org_value(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    lines, moment = generated(12, 14, seed=SEED, bad_rate=0.01, dup_rate=0.05)
    env = {**FAST_GROUP_ENV, "CSS_DEDUP_HORIZON_SECONDS": str(HORIZON_S)}
    scenario = Scenario(
        kafka_bootstrap,
        tmp_path,
        lines,
        moment,
        batch=5,
        name="chunk",
        dedup_horizon_ms=HORIZON_S * 1000,
        worker_env=env,
    )

    async def run() -> tuple[dict[str, object], list[str]]:
        await scenario.create_input()
        await scenario.produce()
        worker = scenario.worker("a")
        kill_points = []
        try:
            for kill_at, wipe in ((6, False), (3, True)):
                worker.extra_env = {
                    **env,
                    "PYTHONPATH": FAULTS,
                    "CSS_TEST_KILL_BETWEEN_WRITES": str(kill_at),
                }
                worker.start()
                point = await _died_by_injection(scenario, worker)
                if wipe:
                    point["wiped_files"] = scenario.wipe_state(worker)
                kill_points.append(point)
            worker.extra_env = env
            worker.start()
            await scenario.settle()
        finally:
            codes = scenario.stop_all()
        assert codes[-1] == 0, scenario.logs()
        figures, problems = await scenario.compare()
        figures["kill_points"] = kill_points
        return figures, problems

    figures, problems = asyncio.run(run())
    report("sigkill between a dedup chunk and its org value", figures)
    assert figures["kills"] == 2
    assert all(point["lag_left"] > 0 for point in figures["kill_points"])  # type: ignore[attr-defined]
    assert figures["duplicates"] > 0  # the dedup memory had work to do
    assert figures["lost"] == 0, "\n".join(problems)
    assert figures["double_counted"] == 0, "\n".join(problems)
    assert not problems, "\n".join(problems) + "\n" + scenario.logs()
