"""The four ways of answering the route: mock, replay, record and proxy.

Each mode is one `serve(gateway, exchange)` coroutine over the steps in `proxy.gateway`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from proxy.exchange import Exchange
from proxy.gateway import Gateway
from proxy.modes import mock, proxy, record, replay

Serve = Callable[[Gateway, Exchange], Awaitable[web.StreamResponse]]

SERVE: dict[str, Serve] = {
    "mock": mock.serve,
    "replay": replay.serve,
    "record": record.serve,
    "proxy": proxy.serve,
}
