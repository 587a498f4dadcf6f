"""The violations page: the HTML, the live stream, the kept exchanges.

`index.html` (next to this file, shipped in the wheel) is the whole page, script and style
inline: no build step, no file from another origin. It is served with a Content-Security-
Policy that allows exactly its own inline script and style (by hash) and requests to this
origin. The stream is Server-Sent Events (aiohttp-sse); each event is one violating
exchange's summary. Access is `proxy.admin`'s, which routes here.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import re
from pathlib import Path
from typing import Final

from aiohttp import web
from aiohttp_sse import EventSourceResponse, sse_response

from proxy.jsonout import dumps as dumps_json
from proxy.keys import SINKS
from proxy.problems import SOURCE_HEADER, problem
from proxy.responses import json_response
from proxy.sinks.exchanges import KeptExchanges, Subscriber

#: Where the detail of one kept exchange is: `/__proxy/exchanges/{id}`.
EXCHANGE_PREFIX: Final = "/__proxy/exchanges/"
#: How long (ms) a page waits before reconnecting a dropped stream (the SSE `retry:` field).
RETRY_MS: Final = 2000
#: Seconds between keep-alive comments on an idle stream (they also notice a gone client).
PING_INTERVAL: Final = 15.0
_PAGE: Final = Path(__file__).with_name("index.html")
# Headers on the page and its data: never cached, never framed, never sniffed.
_HEADERS: Final = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    SOURCE_HEADER: "gateway",
}


@functools.cache
def page() -> tuple[bytes, str]:
    """The page's bytes and its Content-Security-Policy (inline script and style by hash)."""
    html = _PAGE.read_text("utf-8")

    def hashes(tag: str) -> str:
        bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.DOTALL)
        return " ".join(
            f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'"
            for b in bodies
        )

    policy = (
        f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
        "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    return html.encode(), policy


async def page_handler(request: web.Request) -> web.StreamResponse:
    """`GET /__proxy/`: the page."""
    body, policy = page()
    response = web.Response(body=body, content_type="text/html", charset="utf-8")
    response.headers.update(_HEADERS)
    response.headers["Content-Security-Policy"] = policy
    return response


async def exchanges(request: web.Request) -> web.StreamResponse:
    """`GET /__proxy/exchanges`: the kept exchanges' summaries, newest first, and counts."""
    store = request.app[SINKS].exchanges
    try:
        limit = int(request.query["limit"]) if "limit" in request.query else None
    except ValueError:
        return problem("bad-request", "`limit` must be an integer")
    if limit is not None and limit < 1:
        return problem("bad-request", "`limit` must be at least 1")
    return _json({"exchanges": store.list(limit), "counts": store.counts(), "keep": store.size})


async def exchange(request: web.Request) -> web.StreamResponse:
    """`GET /__proxy/exchanges/{id}`: one kept exchange with its request and response."""
    store = request.app[SINKS].exchanges
    id_ = request.path[len(EXCHANGE_PREFIX) :]
    kept = store.get(id_)
    if kept is None:
        return problem(
            "unknown-route",
            f"no kept exchange {id_!r}; the gateway keeps the last {store.size} violating "
            "exchanges (--keep-exchanges)",
        )
    return _json(kept.detail())


async def stream(request: web.Request) -> web.StreamResponse:
    """`GET /__proxy/violations/stream`: each new violating exchange as an SSE event."""
    if request.method == "HEAD":  # the headers a GET would get, and no stream
        return web.Response(headers={"Content-Type": "text/event-stream", **_HEADERS})
    store: KeptExchanges = request.app[SINKS].exchanges
    subscriber = store.subscribe()
    try:
        async with sse_response(request, headers=_HEADERS, ping_interval=PING_INTERVAL) as events:
            # A gone client is noticed by the keep-alive write: end the loop then, rather
            # than wait (forever, on a quiet gateway) for the next event to fail.
            watch = events.wait()
            watcher = asyncio.get_running_loop().create_task(watch)
            watcher.add_done_callback(lambda _: subscriber.end())
            try:
                await events.send(
                    _dumps({"counts": store.counts(), "keep": store.size}),
                    event="hello",
                    retry=RETRY_MS,
                )
                await _relay(subscriber, events)
            finally:
                watcher.cancel()
    finally:
        store.unsubscribe(subscriber)
    return events


async def _relay(subscriber: Subscriber, events: EventSourceResponse) -> None:
    while (summary := await subscriber.queue.get()) is not None:
        await events.send(_dumps(summary), id=summary["id"], event="violation")


def _dumps(value: object) -> str:
    return dumps_json(value).decode()


def _json(value: object) -> web.Response:
    response = json_response(200, value, "gateway")
    response.headers.update(_HEADERS)
    return response
