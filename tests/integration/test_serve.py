"""``csscore serve`` against a real broker: it reads a score topic from the beginning into
its view (the API then equals the latest records), follows new records (the time from the
produce to the open page's event is measured and printed, not asserted), resumes from
its RocksDB view after a restart, and keeps serving, saying so, while the broker is away."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from devtools.generate import generate_lines
from scoring.timeutil import HOUR_MS, parse_time_ms
from streams.pipeline.offline import score_lines
from tests.kafka_helpers import BrokerHandle, create_topic, produce_lines, unique_topic
from tests.oracle import final_records
from tests.scoring_support import DEFAULT_CATALOG

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NOW = "2026-03-02T00:00:00Z"


def scored() -> list[dict[str, Any]]:
    lines = list(generate_lines(12, 14, 5, now=NOW, dup_rate=0.02))
    result = score_lines(
        lines, DEFAULT_CATALOG, grace_ms=HOUR_MS, dedup_horizon_ms=86_400_000,
        now_ms=parse_time_ms(NOW),
    )  # fmt: skip
    return result.records


@contextmanager
def serving(bootstrap: str, topic: str, data_dir: Path, log: Path) -> Iterator[str]:
    """`csscore serve` on a free port; yields its base URL (from the line it logs)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSS_")}
    env |= {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "CSS_OUTPUT_TOPIC": topic,
            "CSS_DATA_DIR": str(data_dir), "CSS_UI_ADDR": "127.0.0.1:0"}  # fmt: skip
    offset = log.stat().st_size if log.exists() else 0  # earlier runs' lines are not ours
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "serve"], env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = re.findall(r"score pages on (http://\S+/)", log.read_text()[offset:])
            if found:
                yield found[-1]
                break
            assert process.poll() is None, log.read_text()
            time.sleep(0.2)
        else:
            raise AssertionError(f"no URL logged:\n{log.read_text()}")
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0, log.read_text()[-3000:]


async def _get_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as answer:
        assert answer.status == 200, url
        return await answer.json()


async def _wait_for_total(session: aiohttp.ClientSession, base: str, total: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (await _get_json(session, f"{base}api/orgs"))["total"] == total:
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"the view never reached {total} orgs")


def test_serve_reads_the_topic_follows_it_and_resumes(kafka_bootstrap: str, tmp_path: Path) -> None:
    records = scored()
    expected = final_records(records)
    orgs = sorted({r["org_id"] for r in records})
    topic = unique_topic("serve")
    asyncio.run(create_topic(kafka_bootstrap, topic, 3))
    asyncio.run(produce_lines(kafka_bootstrap, topic, [orjson.dumps(r) for r in records],
                              [r["org_id"] for r in records]))  # fmt: skip

    async def check(base: str) -> float:
        async with aiohttp.ClientSession() as session:
            await _wait_for_total(session, base, len(orgs))
            for org in orgs:
                api = await _get_json(session, f"{base}api/orgs/{org}")
                assert api["live"] == expected[(org, "live", "*")]
                months = {k: v for k, v in expected.items() if k[0] == org and k[1] == "monthly"}
                assert api["monthly"] == [months[k] for k in sorted(months)]
            # A new live record reaches an open org page's event stream.
            org = orgs[0]
            async with session.get(f"{base}orgs/{org}/events") as events:
                await events.content.readline()
                newer = {**expected[(org, "live", "*")], "as_of": "2026-03-01T23:59:59Z"}
                began = time.monotonic()
                await produce_lines(kafka_bootstrap, topic, [orjson.dumps(newer)], [org])
                while b"event: update" not in await asyncio.wait_for(events.content.readline(), 30):
                    pass
                latency = time.monotonic() - began
            page = await (await session.get(f"{base}orgs/{org}")).text()
            assert "2026-03-01T23:59:59Z" in page
            return latency

    with serving(kafka_bootstrap, topic, tmp_path / "data", tmp_path / "serve.log") as base:
        latency = asyncio.run(check(base))
    print(f"serve: {len(records)} records, {len(orgs)} orgs; record to page event {latency:.2f} s")
    # Restarted on the same data directory: the view is there before any record is read.
    with serving(kafka_bootstrap, topic, tmp_path / "data", tmp_path / "serve.log") as base:

        async def reopened() -> None:
            async with aiohttp.ClientSession() as session:
                listing = await _get_json(session, f"{base}api/orgs?size=100")
                assert listing["total"] == len(orgs)

        asyncio.run(reopened())
    assert "caught up" in (tmp_path / "serve.log").read_text()


def test_serve_keeps_serving_while_the_broker_is_away(
    kafka_broker_factory: Any, tmp_path: Path
) -> None:
    broker: BrokerHandle = kafka_broker_factory()
    records = scored()[:40]
    topic = unique_topic("away")
    asyncio.run(create_topic(broker.bootstrap, topic, 1))
    asyncio.run(produce_lines(broker.bootstrap, topic, [orjson.dumps(r) for r in records],
                              [r["org_id"] for r in records]))  # fmt: skip
    orgs = {r["org_id"] for r in records}

    async def check(base: str) -> None:
        async with aiohttp.ClientSession() as session:
            await _wait_for_total(session, base, len(orgs))
            broker.stop()
            deadline = time.monotonic() + 30
            page = ""
            while time.monotonic() < deadline and 'data-status="broker-away"' not in page:
                await asyncio.sleep(0.5)
                page = await (await session.get(base)).text()
            assert 'data-status="broker-away"' in page
            assert len(re.findall(r"<tr data-org=", page)) == len(orgs)

    with serving(broker.bootstrap, topic, tmp_path / "data", tmp_path / "serve.log") as base:
        asyncio.run(check(base))
