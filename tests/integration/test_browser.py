"""The score pages in a real browser (headless Chromium from Debian, driven by Playwright).

A generated feed is scored by a real worker; ``csscore serve`` follows its score topic.
The portfolio must list every org with its latest live score, an org page must show the
numbers of its latest live record and a chart whose points are its monthly history, and
a new event for the org must change the open page without a reload. The time from the
produce to the page change, and the portfolio's render time, are measured and printed
(not asserted). Screenshots go to ``build/test-artifacts/`` (``CSS_TEST_ARTIFACTS``).
Under ``CI=true`` a missing browser fails, never skips.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest

from devtools.generate import generate_lines
from scoring.timeutil import format_time_ms, parse_time_ms
from streams.cli.feed import plan_records, produce_records
from streams.config import KafkaSecurity
from tests.integration.test_serve import serving
from tests.kafka_helpers import create_topic, produce_lines, unique_topic
from tests.oracle import final_records
from tests.worker_harness import WorkerProcess, output_records, wait_caught_up

pytestmark = [pytest.mark.integration, pytest.mark.slow]

T = TypeVar("T")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ARTIFACTS = Path(os.environ.get("CSS_TEST_ARTIFACTS", "build/test-artifacts"))


def off_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion on a thread of its own: Playwright's sync API keeps
    an event loop on this one, where ``asyncio.run`` is refused."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _chromium() -> str:
    found = os.environ.get("CSS_CHROMIUM") or shutil.which("chromium") or shutil.which(
        "chromium-browser"
    )
    if found is None:
        message = "no Chromium: `make tools` installs Debian's chromium package"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()
    from playwright.sync_api import sync_playwright  # a dev dependency: always installed

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def test_pages_show_the_latest_records_and_change_live(
    kafka_bootstrap: str, tmp_path: Path, browser: Any
) -> None:
    now_ms = int(time.time() * 1000)
    now_ms -= now_ms % 1000
    lines = list(generate_lines(6, 14, 21, now=format_time_ms(now_ms), dup_rate=0.02))
    name = unique_topic("browser")
    topic, output = f"{name}-in", f"{name}-out"
    worker = WorkerProcess(
        bootstrap=kafka_bootstrap, app_id=name, input_topic=topic, output_topic=output,
        dlq_topic=f"{name}-dlq", data_dir=tmp_path / "worker", log_path=tmp_path / "worker.log",
    )  # fmt: skip
    security = KafkaSecurity.from_env({})
    off_loop(create_topic(kafka_bootstrap, topic, 2))
    off_loop(produce_records(list(plan_records(lines, 1)), topic,
                                bootstrap=kafka_bootstrap, security=security))  # fmt: skip
    worker.start()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        sources = [topic, f"{name}-control"]
        off_loop(wait_caught_up(kafka_bootstrap, name, sources, output, worker=worker))
        final = final_records(off_loop(output_records(kafka_bootstrap, output)))
        lives = {key[0]: record for key, record in final.items() if key[1] == "live"}
        with serving(kafka_bootstrap, output, tmp_path / "serve", tmp_path / "serve.log") as base:
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            _wait_for_rows(page, base, len(lives))
            began = time.perf_counter()
            page.goto(f"{base}?size=100&sort=score")
            render_ms = (time.perf_counter() - began) * 1000
            rows = page.locator("tr[data-org]")
            shown = {
                rows.nth(i).get_attribute("data-org"): rows.nth(i)
                .locator('[data-metric="overall"]')
                .inner_text()
                for i in range(rows.count())
            }
            assert shown == {
                org: str(r["overall"]["score"]) if r["overall"]["score"] is not None else "-"
                for org, r in lives.items()
            }
            page.screenshot(path=str(ARTIFACTS / "portfolio.png"), full_page=True)

            org = sorted(lives)[0]
            live = lives[org]
            page.goto(f"{base}orgs/{org}")
            assert page.locator('[data-metric="overall"]').inner_text() == str(
                live["overall"]["score"]
            )
            for category, values in live["categories"].items():
                text = page.locator(f'[data-metric="category:{category}"]').inner_text()
                assert text == ("-" if values["score"] is None else str(values["score"]))
            for signal in live["signals"]:
                row = page.locator(f'tr[data-signal="{signal["id"]}"]')
                expected = "" if signal["score"] is None else str(signal["score"])
                assert row.get_attribute("data-score") == expected
            months = sorted(
                (key[2], record) for key, record in final.items() if key[:2] == (org, "monthly")
            )
            points = page.locator('[data-chart="trend"] [data-period]')
            charted = [
                (point.get_attribute("data-period"), point.get_attribute("data-score"))
                for point in points.all()
            ]
            assert charted == [(period, str(r["overall"]["score"])) for period, r in months][-26:]
            recommended = page.locator("[data-recommendation]")
            assert [recommended.nth(i).get_attribute("data-recommendation")
                    for i in range(recommended.count())] == [
                r["signal"] for r in live["recommendations"]
            ]  # fmt: skip
            page.screenshot(path=str(ARTIFACTS / "org-page.png"), full_page=True)

            # A new event for the org: the open page changes without a reload.
            page.evaluate("window.__notReloaded = true")
            before = page.locator("[data-as-of]").inner_text()
            latest_ms = parse_time_ms(live["as_of"])
            event = {
                "specversion": "1.0", "id": "browser-test-event", "source": "test",
                "type": "case.created", "subject": org, "time": format_time_ms(latest_ms + 1000),
                "data": {"product": "service_cloud", "count": 1},
            }  # fmt: skip
            sent = time.perf_counter()
            off_loop(produce_lines(kafka_bootstrap, topic, [orjson.dumps(event)], [org]))
            page.wait_for_function(
                "before => document.querySelector('[data-as-of]').textContent !== before",
                arg=before,
                timeout=60_000,
            )
            update_s = time.perf_counter() - sent
            assert page.evaluate("window.__notReloaded") is True
            assert page.locator("[data-as-of]").inner_text() == format_time_ms(latest_ms + 1000)
            page.screenshot(path=str(ARTIFACTS / "org-page-updated.png"), full_page=True)
            print(
                f"browser: {len(lives)} orgs; portfolio page {render_ms:.0f} ms in the browser;"
                f" event to open page changed {update_s:.2f} s (live interval 1 s)"
            )
    finally:
        assert worker.stop() == 0, worker.log_text()[-3000:]


def _wait_for_rows(page: Any, base: str, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page.goto(f"{base}?size=100")
        if page.locator("tr[data-org]").count() >= count:
            return
        time.sleep(0.5)
    raise AssertionError(f"the portfolio never listed {count} orgs")
