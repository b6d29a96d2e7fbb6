"""``csscore serve``: follow the score topic into a :class:`ScoreView` and serve it.

- A follower reads every partition of the output topic from the view's stored positions
  (the beginning for a new view), without a consumer group: instances side by side each
  keep their own view. It keeps following new records; an org page open in a browser
  gets a server-sent event when its org changes and swaps in the new content.
- A probe checks every few seconds that a broker answers; while none does, the pages
  keep serving the last known view and say so.
- Pages are rendered on the server (Jinja2, autoescaped) and work without JavaScript;
  ``static/live.js`` (vendored, a few lines) only refreshes an open org page. Every
  endpoint is read-only (GET/HEAD).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import jinja2
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from streams.config import KafkaSecurity
from streams.runtime.health import bootstrap_addresses, tcp_reachable
from streams.view import pages
from streams.view.store import SORT_KEYS, ScoreView

log = logging.getLogger("csscore.serve")

PROBE_INTERVAL_SECONDS = 5.0
MAX_ORG_ID_BYTES = 512
PAGE_SIZE = 50


@dataclass
class FollowState:
    """What the pages say about the follower."""

    topic: str
    retention_days: int
    broker_ok: bool = False
    broker_lost_at: float | None = None
    caught_up: bool = False
    started_at: float = field(default_factory=time.time)
    partitions: int = 0


class Subscribers:
    """Open org pages waiting for their org to change (server-sent events)."""

    def __init__(self) -> None:
        self.queues: dict[str, set[asyncio.Queue[str | None]]] = defaultdict(set)

    def notify(self, org: str, as_of: str) -> None:
        for queue in self.queues.get(org, ()):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(as_of)

    def close_all(self) -> None:
        """End every open stream (shutdown: the server need not wait for the pages)."""
        for queues in self.queues.values():
            for queue in queues:
                while queue.full():
                    queue.get_nowait()
                queue.put_nowait(None)

    @contextlib.contextmanager
    def subscribe(self, org: str) -> Any:
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=16)
        self.queues[org].add(queue)
        try:
            yield queue
        finally:
            self.queues[org].discard(queue)
            if not self.queues[org]:
                del self.queues[org]


async def follow(
    view: ScoreView,
    state: FollowState,
    subscribers: Subscribers,
    bootstrap: str,
    security: KafkaSecurity,
) -> None:
    """Read the topic into the view forever (reconnecting as the clients do)."""
    while True:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, **security.aiokafka_kwargs()
        )
        try:
            await consumer.start()
            partitions = consumer.partitions_for_topic(state.topic)
            if not partitions:
                await consumer._client.force_metadata_update()
                partitions = consumer.partitions_for_topic(state.topic)
            if not partitions:
                log.info("waiting for topic %s", state.topic)
                await asyncio.sleep(2.0)
                continue
            state.partitions = len(partitions)
            await _read(consumer, sorted(partitions), view, state, subscribers)
        except KafkaError as exc:
            log.warning("score topic follower: %s; retrying", type(exc).__name__)
            await asyncio.sleep(2.0)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()


async def _read(
    consumer: AIOKafkaConsumer,
    partitions: list[int],
    view: ScoreView,
    state: FollowState,
    subscribers: Subscribers,
) -> None:
    tps = [TopicPartition(state.topic, p) for p in partitions]
    consumer.assign(tps)
    for tp in tps:
        stored = view.next_offset(tp.partition)
        if stored is None:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, stored)
    ends = await consumer.end_offsets(tps)
    while True:
        batch = await consumer.getmany(timeout_ms=500, max_records=5000)
        for tp, messages in batch.items():
            for message in messages:
                org = view.apply(message.value) if message.value is not None else None
                if org is not None:
                    summary = view.summaries[org]
                    subscribers.notify(org, summary.as_of or "")
            if messages:
                view.set_next_offset(tp.partition, messages[-1].offset + 1)
        if not state.caught_up and all(
            (view.next_offset(tp.partition) or 0) >= end for tp, end in ends.items()
        ):
            state.caught_up = True
            log.info("caught up: %d orgs, %d records", len(view.summaries), view.records_applied)


async def probe(state: FollowState, bootstrap: str) -> None:
    addresses = bootstrap_addresses(bootstrap)
    while True:
        ok = await tcp_reachable(addresses)
        if ok != state.broker_ok:
            state.broker_lost_at = None if ok else time.time()
            if state.broker_lost_at is not None:
                log.warning("no broker answers at %s: serving the last known scores", bootstrap)
        state.broker_ok = ok
        await asyncio.sleep(PROBE_INTERVAL_SECONDS)


# --------------------------------------------------------------------------- web


def _templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("streams.view", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.ChainableUndefined,
    )
    environment.filters["signed"] = pages.signed
    environment.filters["number"] = pages.number
    return environment


VIEW_KEY = web.AppKey("view", ScoreView)
STATE_KEY = web.AppKey("state", FollowState)
SUBSCRIBERS_KEY = web.AppKey("subscribers", Subscribers)
TEMPLATES_KEY = web.AppKey("templates", jinja2.Environment)


def build_app(view: ScoreView, state: FollowState, subscribers: Subscribers) -> web.Application:
    app = web.Application(middlewares=[_errors])
    app[VIEW_KEY] = view
    app[STATE_KEY] = state
    app[SUBSCRIBERS_KEY] = subscribers
    app[TEMPLATES_KEY] = _templates()
    app.router.add_get("/", portfolio)
    app.router.add_get("/api/orgs", api_orgs)
    app.router.add_get("/api/orgs/{org_id}", api_org)
    app.router.add_get("/orgs/{org_id}", org_page)
    app.router.add_get("/orgs/{org_id}/events", org_events)
    app.router.add_get("/static/{name}", static)
    return app


def _render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    app = request.app
    state = app[STATE_KEY]
    text = app[TEMPLATES_KEY].get_template(template).render(
        state=state, view=app[VIEW_KEY], **context
    )
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Read-only; unknown paths get the 404 page, malformed ones the 400 page."""
    if request.method not in ("GET", "HEAD"):
        raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])
    try:
        return await handler(request)  # type: ignore[no-any-return]
    except web.HTTPNotFound:
        return _render(request, "error.html", 404, title="Not found", detail=request.path)
    except web.HTTPBadRequest as exc:
        return _render(request, "error.html", 400, title="Bad request", detail=exc.text or "")


class _Query:
    """The portfolio's filters from the query string (bad values: 400)."""

    def __init__(self, request: web.Request) -> None:
        query = request.query
        self.band = query.get("band") or None
        self.search = (query.get("q") or "").strip()[:MAX_ORG_ID_BYTES] or None
        sort = query.get("sort") or "org"
        if sort not in SORT_KEYS:
            raise web.HTTPBadRequest(text=f"sort must be one of {', '.join(SORT_KEYS)}")
        self.sort: Any = sort
        order = query.get("order") or ("asc" if sort == "org" else "desc")
        if order not in ("asc", "desc"):
            raise web.HTTPBadRequest(text="order must be asc or desc")
        self.order = order
        try:
            self.page = int(query.get("page") or 1)
            self.size = min(500, max(1, int(query.get("size") or PAGE_SIZE)))
        except ValueError:
            raise web.HTTPBadRequest(text="page and size must be whole numbers") from None

    def run(self, view: ScoreView) -> Any:
        return view.query(
            band=self.band,
            search=self.search,
            sort=self.sort,
            descending=self.order == "desc",
            page=self.page,
            size=self.size,
        )

    def link(self, **changes: Any) -> str:
        current = {"band": self.band, "q": self.search, "sort": self.sort}
        current |= {"order": self.order, "page": self.page, "size": self.size}
        return pages.query_link(current | changes)


def _org_id(request: web.Request) -> str:
    org = request.match_info["org_id"]
    if len(org.encode()) > MAX_ORG_ID_BYTES or any(ord(c) < 32 for c in org):
        raise web.HTTPBadRequest(text="not an org id")
    if not request.app[VIEW_KEY].knows(org):
        raise web.HTTPNotFound()
    return org


async def portfolio(request: web.Request) -> web.Response:
    began = time.perf_counter()
    query = _Query(request)
    result = query.run(request.app[VIEW_KEY])
    return _render(
        request, "portfolio.html", query=query, result=result,
        render_ms=lambda: round((time.perf_counter() - began) * 1000, 1),
    )  # fmt: skip


async def api_orgs(request: web.Request) -> web.Response:
    query = _Query(request)
    result = query.run(request.app[VIEW_KEY])
    body = {"total": result.total, "page": result.page, "pages": result.pages}
    return web.json_response({**body, "orgs": [row.to_json() for row in result.rows]})


async def api_org(request: web.Request) -> web.Response:
    org = _org_id(request)
    view = request.app[VIEW_KEY]
    return web.json_response({"org_id": org, "live": view.live(org), "monthly": view.history(org)})


async def org_page(request: web.Request) -> web.Response:
    org = _org_id(request)
    view = request.app[VIEW_KEY]
    model = pages.org_model(org, view.live(org), view.history(org))
    template = "org_main.html" if request.query.get("fragment") else "org.html"
    return _render(request, template, org=model)


async def org_events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: one ``update`` per new record of the org."""
    org = _org_id(request)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    with request.app[SUBSCRIBERS_KEY].subscribe(org) as queue, contextlib.suppress(
        ConnectionResetError  # the page was closed
    ):
        await response.write(b": connected\n\n")
        while True:
            try:
                as_of = await asyncio.wait_for(queue.get(), timeout=15.0)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if as_of is None:
                break  # shutting down
            await response.write(f"event: update\ndata: {as_of}\n\n".encode())
    return response


_STATIC_TYPES = {".css": "text/css", ".js": "text/javascript"}


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    suffix = name[name.rfind(".") :]
    if suffix not in _STATIC_TYPES or "/" in name or name.startswith("."):
        raise web.HTTPNotFound()
    try:
        body = resources.files("streams.view").joinpath("static", name).read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise web.HTTPNotFound() from None
    return web.Response(
        body=body, content_type=_STATIC_TYPES[suffix],
        headers={"Cache-Control": "max-age=3600"},
    )  # fmt: skip


@contextlib.asynccontextmanager
async def running(
    view: ScoreView,
    state: FollowState,
    bootstrap: str,
    security: KafkaSecurity,
    host: str,
    port: int,
) -> AsyncIterator[tuple[web.AppRunner, int]]:
    """The follower, the probe and the web server, until the block ends; yields the bound
    port (port 0 picks a free one)."""
    subscribers = Subscribers()
    tasks = [
        asyncio.ensure_future(follow(view, state, subscribers, bootstrap, security)),
        asyncio.ensure_future(probe(state, bootstrap)),
    ]
    runner = web.AppRunner(
        build_app(view, state, subscribers), access_log=None, shutdown_timeout=5.0
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        yield runner, int(bound)
    finally:
        subscribers.close_all()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await runner.cleanup()
