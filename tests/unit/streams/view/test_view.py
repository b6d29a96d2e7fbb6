"""The read side without a broker: the view keeps what a consumer of the score topic keeps,
and the pages and JSON built on it (aiohttp's test client against the real app).
The follower against a real broker is in tests/integration/test_serve.py."""

from __future__ import annotations

import asyncio
import re
import time
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from devtools.generate import generate_lines
from scoring.timeutil import HOUR_MS, parse_time_ms
from streams.pipeline.offline import score_lines
from streams.view.server import FollowState, Subscribers, build_app
from streams.view.store import OrgSummary, ScoreView
from tests.scoring_support import DEFAULT_CATALOG


@cache
def records() -> tuple[dict[str, Any], ...]:
    lines = list(generate_lines(8, 14, 3, now="2026-03-02T00:00:00Z", dup_rate=0.02))
    result = score_lines(
        lines, DEFAULT_CATALOG, grace_ms=HOUR_MS, dedup_horizon_ms=86_400_000,
        now_ms=parse_time_ms("2026-03-02T00:00:00Z"),
    )  # fmt: skip
    return tuple(result.records)


def filled(directory: Path | None = None) -> ScoreView:
    view = ScoreView(directory)
    for record in records():
        assert view.apply(orjson.dumps(record)) == record["org_id"]
    return view


def test_the_view_keeps_the_latest_live_and_the_highest_revision_per_month() -> None:
    view = filled()
    live = next(r for r in records() if r["kind"] == "live")
    org = live["org_id"]
    assert view.live(org) == live
    history = view.history(org)
    assert [r["period"] for r in history] == sorted(r["period"] for r in history)
    month = history[-1]
    older = {**month, "revision": 0, "overall": {"score": 1, "band": "fair"}}
    newer = {**month, "revision": 2}
    assert view.apply(orjson.dumps(newer)) == org
    assert view.apply(orjson.dumps(older)) is None  # a lower revision never wins
    assert view.history(org)[-1] == newer
    summary = view.summaries[org]
    assert summary.overall == live["overall"]["score"]
    assert summary.change == live["overall"]["score"] - month["overall"]["score"]
    assert view.apply(b"not json") is None
    assert view.apply(b'{"schema": "css.alert/v1", "org_id": "x"}') is None


def test_filters_sort_and_pages() -> None:
    view = filled()
    everyone = view.query(size=500)
    assert everyone.total == len(view.summaries) == 8
    by_score = view.query(sort="score", descending=True, size=3)
    scores = [r.overall for r in by_score.rows]
    assert scores == sorted(scores, reverse=True) and by_score.pages == 3
    band = everyone.rows[0].band
    assert band is not None
    assert all(r.band == band for r in view.query(band=band, size=500).rows)
    assert [r.org_id for r in view.query(search="00003").rows] == ["org-00003"]
    assert view.query(page=99, size=3).page == 3  # clamped to the last page


def test_the_rocksdb_view_survives_a_reopen(tmp_path: Path) -> None:
    view = filled(tmp_path / "view")
    view.set_next_offset(0, 1234)
    before = {org: view.history(org) for org in view.summaries}
    summaries = dict(view.summaries)
    view.close()
    again = ScoreView(tmp_path / "view")
    try:
        assert again.next_offset(0) == 1234 and again.next_offset(1) is None
        assert {org: again.history(org) for org in again.summaries} == before
        assert again.summaries == summaries
        assert again.oldest_period == min(r["period"] for r in records())
    finally:
        again.close()


async def _client(view: ScoreView, broker_ok: bool = True) -> tuple[TestClient, Subscribers]:
    state = FollowState("scores", 400, broker_ok=broker_ok, caught_up=True)
    subscribers = Subscribers()
    client = TestClient(TestServer(build_app(view, state, subscribers)))
    await client.start_server()
    return client, subscribers


async def test_portfolio_and_org_page_show_the_latest_records() -> None:
    view = filled()
    client, _ = await _client(view)
    try:
        page = await (await client.get("/?size=100")).text()
        orgs = re.findall(r'<tr data-org="([^"]+)"', page)
        assert sorted(orgs) == sorted(view.summaries)
        org = orgs[0]
        live = view.live(org)
        assert live is not None
        answer = await client.get(f"/orgs/{org}")
        assert answer.status == 200
        html = await answer.text()
        overall = re.search(r'data-metric="overall">([^<]*)<', html)
        assert overall is not None and overall.group(1) == str(live["overall"]["score"])
        for name, category in live["categories"].items():
            shown = re.search(rf'data-metric="category:{name}">([^<]*)<', html)
            expected = "-" if category["score"] is None else str(category["score"])
            assert shown is not None and shown.group(1) == expected
        for signal in live["signals"]:
            row = re.search(rf'data-signal="{re.escape(signal["id"])}" data-score="([^"]*)"', html)
            score = "" if signal["score"] is None else str(signal["score"])
            assert row is not None and row.group(1) == score
        points = re.findall(r'data-period="([^"]+)" data-score="([^"]*)"', html)
        history = view.history(org)
        assert points == [(r["period"], str(r["overall"]["score"])) for r in history][-26:]
        recommended = re.findall(r'data-recommendation="([^"]+)"', html)
        assert recommended == [r["signal"] for r in live["recommendations"]]
        api = await (await client.get(f"/api/orgs/{org}")).json()
        assert api["live"] == live and api["monthly"] == history
        listing = await (await client.get("/api/orgs?sort=score&order=desc&size=2")).json()
        assert listing["total"] == 8 and len(listing["orgs"]) == 2
    finally:
        await client.close()


async def test_errors_escaping_and_read_only() -> None:
    view = filled()
    hostile = '<script>alert("x")</script>\'&'
    live = {**next(r for r in records() if r["kind"] == "live"), "org_id": hostile}
    view.apply(orjson.dumps(live))
    client, _ = await _client(view, broker_ok=False)
    try:
        page = await (await client.get("/?size=100")).text()
        assert "<script>alert" not in page and "&lt;script&gt;alert(&#34;x&#34;)" in page
        assert 'data-status="broker-away"' in page  # the broker is away: the page says so
        org_page = await client.get("/orgs/" + hostile.replace("/", "%2F").replace("#", "%23"))
        assert org_page.status == 200
        assert "<script>alert" not in await org_page.text()
        assert (await client.get("/orgs/nobody")).status == 404
        assert (await client.get("/nowhere")).status == 404
        assert (await client.get("/?sort=nonsense")).status == 400
        assert (await client.get("/?page=x")).status == 400
        assert (await client.get("/orgs/" + "x" * 600)).status == 400
        assert (await client.post("/", data=b"x")).status == 405
        assert (await client.get("/static/style.css")).status == 200
        assert (await client.get("/static/..%2Fserver.py")).status == 404
    finally:
        await client.close()


async def test_an_open_org_page_hears_about_a_new_record() -> None:
    view = filled()
    client, subscribers = await _client(view)
    org = sorted(view.summaries)[0]
    try:
        events = await client.get(f"/orgs/{org}/events")
        assert events.headers["Content-Type"].startswith("text/event-stream")
        assert (await events.content.readline()).startswith(b": connected")
        live = view.live(org)
        assert live is not None
        newer = {**live, "as_of": "2026-03-01T12:00:00Z"}
        newer["overall"] = {"score": 99, "band": "excellent"}
        assert view.apply(orjson.dumps(newer)) == org
        subscribers.notify(org, newer["as_of"])
        lines = [await asyncio.wait_for(events.content.readline(), 5) for _ in range(3)]
        assert lines == [b"\n", b"event: update\n", b"data: 2026-03-01T12:00:00Z\n"]
        fragment = await (await client.get(f"/orgs/{org}?fragment=1")).text()
        assert 'data-metric="overall">99<' in fragment and "<html" not in fragment
    finally:
        await client.close()


@pytest.mark.parametrize("path", ["/", "/api/orgs"])
async def test_an_empty_view_still_serves(path: str) -> None:
    client, _ = await _client(ScoreView())
    try:
        assert (await client.get(path)).status == 200
    finally:
        await client.close()


async def test_a_portfolio_page_of_100000_orgs_is_timed() -> None:
    """The render time of one page over 100,000 orgs (sorted by change, filtered by band)
    is measured and printed, not asserted (shared machines are noisy)."""
    view = ScoreView()
    bands = ("fair", "good", "excellent")
    for n in range(100_000):
        summary = OrgSummary(f"org-{n:06d}", overall=n % 101, band=bands[n % 3],
                             categories=(n % 97, n % 89, None), as_of="2026-03-01T00:00:00Z",
                             last_closed="2026-02", last_closed_overall=(n * 7) % 101)  # fmt: skip
        view.summaries[summary.org_id] = summary
    client, _ = await _client(view)
    try:
        timings = []
        for query in ("/", "/?sort=change&order=desc&band=good", "/?q=org-09&sort=score&page=3"):
            began = time.perf_counter()
            answer = await client.get(query)
            assert answer.status == 200 and "data-org=" in await answer.text()
            timings.append((time.perf_counter() - began) * 1000)
        print("portfolio over 100,000 orgs: " + ", ".join(f"{ms:.0f} ms" for ms in timings))
    finally:
        await client.close()
