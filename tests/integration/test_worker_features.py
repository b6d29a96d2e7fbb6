"""Worker behaviour on a real broker beyond the oracle: idle watermark advance, bad settings."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from scoring.timeutil import format_period, format_time_ms, month_of
from streams.cli.feed import plan_records, produce_records
from streams.config import KafkaSecurity
from tests.kafka_helpers import create_topic, end_offsets, unique_topic
from tests.worker_harness import WorkerProcess, output_records

pytestmark = pytest.mark.integration


def _event(n: int, time_ms: int) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": f"idle-{n}",
            "source": "test",
            "type": "case.created",
            "subject": "org-idle",
            "time": format_time_ms(time_ms),
            "data": {"product": "service_cloud"},
        }
    )


async def _wait_for_monthly(bootstrap: str, topic: str, period: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = []
        if await end_offsets(bootstrap, topic):  # the worker has created the topic
            records = await output_records(bootstrap, topic)
        if any(r["kind"] == "monthly" and r["period"] == period for r in records):
            return True
        await asyncio.sleep(1.0)
    return False


@pytest.mark.slow
def test_idle_partitions_advance_to_the_wall_clock_and_close_the_month(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """With CSS_IDLE_ADVANCE_SECONDS, last month closes without any tick."""
    now_ms = int(time.time() * 1000)
    previous_month = month_of(now_ms) - 1
    from scoring.timeutil import month_start_ms

    start = month_start_ms(previous_month)
    lines = [_event(n, start + (n + 1) * 3_600_000) for n in range(5)]
    topic, output = unique_topic("idle-in"), unique_topic("idle-out")
    app_id = unique_topic("idle")

    async def scenario() -> bool:
        await create_topic(kafka_bootstrap, topic, 2)
        await produce_records(
            plan_records(lines, 1),
            topic,
            bootstrap=kafka_bootstrap,
            security=KafkaSecurity.from_env({}),
        )
        worker = WorkerProcess(
            bootstrap=kafka_bootstrap,
            app_id=app_id,
            input_topic=topic,
            output_topic=output,
            dlq_topic=unique_topic("idle-dlq"),
            data_dir=tmp_path / "state",
            log_path=tmp_path / "worker.log",
            extra_env={"CSS_IDLE_ADVANCE_SECONDS": "2", "CSS_GRACE_SECONDS": "60"},
        )
        worker.start()
        try:
            return await _wait_for_monthly(
                kafka_bootstrap, output, format_period(previous_month), timeout=120
            )
        finally:
            assert worker.stop() == 0, worker.log_text()[-2000:]

    if month_start_ms(previous_month + 1) + 60_000 > now_ms:
        pytest.skip("the month started less than a minute ago")
    assert asyncio.run(scenario()), "no monthly record after idle advance"


@pytest.mark.parametrize(
    ("name", "value"),
    [("CSS_GRACE_SECONDS", "an hour"), ("CSS_METRICS_ADDR", "nowhere"), ("CSS_STORE", "s3")],
)
def test_a_bad_setting_exits_2_with_one_line(name: str, value: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker"],
        env={"PATH": "/usr/bin:/bin", name: value},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and name in lines[0], result.stderr
