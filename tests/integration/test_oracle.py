"""The streaming scorer agrees with ``csscore score`` (docs/scoring-rules.md section 10).

Generated telemetry (about 20 orgs x 14 months, 2 % poison, 5 % duplicates, late events)
is produced in file order, keyed by org, to a 3-partition topic; every partition is ticked
to the offline watermark; the final record per (org, monthly, period) and the last live
record per org must equal the offline scorer's, field by field except ``revision``; so must
the alerts a consumer holds (band changes at their highest revision, live alerts by key).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import pytest

from devtools.generate import generate_lines
from scoring.alerts import AlertRules
from scoring.timeutil import format_time_ms
from streams.cli.feed import plan_records, produce_records, send_ticks
from streams.cli.scores_view import latest_records_of
from streams.codec.catalog import load_catalog
from streams.config import KafkaSecurity
from streams.pipeline.offline import score_lines
from tests.kafka_helpers import consume_all, create_topic, unique_topic
from tests.oracle import differences, final_alerts, final_records, regroup_by_org
from tests.worker_harness import WorkerProcess, output_records, wait_caught_up

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GRACE_MS = 3_600_000
HORIZON_MS = 86_400_000


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _score_through_kafka(
    bootstrap: str,
    lines: list[bytes],
    tmp_path: Path,
    partitions: int = 3,
    wrong_keys: bool = False,
) -> tuple[dict, dict, dict[str, object]]:
    now_ms = _now_ms()
    offline = score_lines(
        lines,
        load_catalog(None),
        grace_ms=GRACE_MS,
        dedup_horizon_ms=HORIZON_MS,
        now_ms=now_ms,
        alert_rules=AlertRules(),
    )
    assert offline.watermark_ms is not None
    topic = unique_topic("telemetry")
    output = unique_topic("scores")
    dlq = unique_topic("dlq")
    app_id = unique_topic("oracle")
    await create_topic(bootstrap, topic, partitions)
    security = KafkaSecurity.from_env({})
    records = list(plan_records(lines, 1))
    if wrong_keys:  # every record keyed by something else than its org id
        records = [replace(r, key=b"not-the-org-" + (r.key or b"")) for r in records]
    await produce_records(records, topic, bootstrap=bootstrap, security=security)
    worker = WorkerProcess(
        bootstrap=bootstrap,
        app_id=app_id,
        input_topic=topic,
        output_topic=output,
        dlq_topic=dlq,
        data_dir=tmp_path / "worker",
        log_path=tmp_path / "worker.log",
    )
    worker.start()
    try:
        sources = [topic, f"{app_id}-control"]
        first_pass = await wait_caught_up(bootstrap, app_id, sources, output, worker=worker)
        await send_ticks(topic, offline.watermark_ms, bootstrap=bootstrap, security=security)
        await wait_caught_up(bootstrap, app_id, sources, output, worker=worker)
    finally:
        exit_code = worker.stop()
    assert exit_code == 0, worker.log_text()[-3000:]
    actual = final_records(await output_records(bootstrap, output))
    expected = final_records(offline.records)
    # The alerts a consumer holds equal those of `csscore score --alerts`.
    expected_alerts = final_alerts(offline.alerts)
    actual_alerts = final_alerts(await output_records(bootstrap, f"{output}.alerts"))
    assert differences(expected_alerts, actual_alerts) == []
    # csscore score-of reads the org's partition backwards: its latest records are final.
    some_org = sorted(key[0] for key in expected)[0]
    latest = await latest_records_of(bootstrap, output, security, some_org)
    assert [r["kind"] for r in latest] == ["monthly", "live"]
    assert latest[1] == actual[(some_org, "live", "*")]
    assert latest[0]["period"] == max(k[2] for k in expected if k[:2] == (some_org, "monthly"))
    dlq_records = await consume_all(bootstrap, dlq, timeout=20.0)
    figures = {
        "lines": len(lines),
        "accepted": offline.accepted,
        "rejected": offline.rejected,
        "duplicates": offline.duplicates,
        "watermark": format_time_ms(offline.watermark_ms),
        "dlq_records": len(dlq_records),
        "first_pass_seconds": round(first_pass, 1),
        "expected_records": len(expected),
        "alerts": len(expected_alerts),
    }
    return expected, actual, figures


def test_worker_equals_offline_scorer(kafka_bootstrap: str, tmp_path: Path) -> None:
    now = format_time_ms(_now_ms() - _now_ms() % 1000)
    lines = list(generate_lines(20, 14, seed=7, now=now, bad_rate=0.02, dup_rate=0.05))
    expected, actual, figures = asyncio.run(_score_through_kafka(kafka_bootstrap, lines, tmp_path))
    print(f"oracle: {figures}")
    problems = differences(expected, actual)
    assert not problems, "\n".join(problems)
    assert figures["alerts"] > 0, "the feed should raise alerts"
    assert len(actual) == len(expected) > 20 * 12
    # Every poison line was dead-lettered (too_old ones by the agent, the rest by the decoder).
    assert figures["dlq_records"] >= figures["rejected"]


def test_regrouped_input_gives_the_same_final_records(kafka_bootstrap: str, tmp_path: Path) -> None:
    now = format_time_ms(_now_ms() - _now_ms() % 1000)
    lines = regroup_by_org(
        list(generate_lines(6, 14, seed=11, now=now, bad_rate=0.02, dup_rate=0.05))
    )
    expected, actual, figures = asyncio.run(_score_through_kafka(kafka_bootstrap, lines, tmp_path))
    print(f"oracle (regrouped by org): {figures}")
    problems = differences(expected, actual)
    assert not problems, "\n".join(problems)
    assert figures["alerts"] > 0, "the feed should raise alerts"


def test_records_keyed_by_something_else_are_rekeyed_to_their_org(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Mis-keyed records are outside the ordering promise across orgs, but each org's own
    records keep their order inside one input partition, so its scores are still exact."""
    now = format_time_ms(_now_ms() - _now_ms() % 1000)
    lines = list(generate_lines(4, 3, seed=5, now=now, bad_rate=0.0, dup_rate=0.02))
    expected, actual, figures = asyncio.run(
        _score_through_kafka(kafka_bootstrap, lines, tmp_path, wrong_keys=True)
    )
    print(f"oracle (mis-keyed records): {figures}")
    problems = differences(expected, actual)
    assert not problems, "\n".join(problems)
