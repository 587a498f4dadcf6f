"""The gateway's own endpoints under `/__proxy/`: health, violations, metrics, cassettes.

They are answered here and never forwarded. With `--admin-token T`, all but `health`
require `Authorization: Bearer T`; comparison is constant-time. `AdminRoutes` dispatches
by exact path (GET and HEAD); `proxy.app` hands it every request under `/__proxy`.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from proxy import __version__
from proxy.problems import SOURCE_HEADER, problem

if TYPE_CHECKING:
    from proxy.gateway import Gateway

PREFIX = "/__proxy"

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]

#: The methods every admin endpoint answers.
METHODS = ("GET", "HEAD")
#: The stateful mock's state (issue 13): GET shows it, DELETE resets it.
STATE_PATH = f"{PREFIX}/state"


class AdminRoutes:
    """The admin endpoints of one gateway, by path."""

    def __init__(self, gateway: Gateway) -> None:
        self._routes, self._unknown = _handlers(gateway)

    def owns(self, path: str) -> bool:
        """True for the paths under `/__proxy` (the gateway's own, never forwarded)."""
        return path == PREFIX or path.startswith(PREFIX + "/")

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer one admin request."""
        handler = self._routes.get(request.path, self._unknown)
        # issue 13: DELETE resets the mock's state, on that path only.
        methods = (*METHODS, "DELETE") if request.path == STATE_PATH else METHODS
        if handler is not self._unknown and request.method not in methods:
            allowed = ", ".join(methods)
            return problem(
                "method-not-allowed",
                f"{request.method} is not allowed on {request.path}; allowed: {allowed}",
                headers={"Allow": allowed},
                allowed=list(methods),
            )
        return await handler(request)


def _handlers(gateway: Gateway) -> tuple[dict[str, Handler], Handler]:

    def guarded(handler: Handler) -> Handler:
        async def check(request: web.BaseRequest) -> web.StreamResponse:
            token = gateway.settings.admin_token
            if token is not None:
                sent = request.headers.get("Authorization", "")
                if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
                    return problem(
                        "unauthorized",
                        "this endpoint requires `Authorization: Bearer <admin token>`",
                        headers={"WWW-Authenticate": 'Bearer realm="portal-proxy"'},
                    )
            return await handler(request)

        return check

    async def health(request: web.BaseRequest) -> web.StreamResponse:
        return _json(
            {
                "status": "ok",
                "mode": gateway.settings.mode,
                "version": __version__,
                "spec": gateway.spec.source,
                "operations": len(gateway.spec.operations),
                "loop": loop_name(),
            }
        )

    async def violations(request: web.BaseRequest) -> web.StreamResponse:
        query = request.query
        try:
            since = float(query["since"]) if "since" in query else None
            limit = int(query.get("limit", "100"))
        except ValueError:
            return problem("bad-request", "`since` must be a unix time and `limit` an integer")
        if limit < 1:
            return problem("bad-request", "`limit` must be at least 1")
        recent = gateway.reporter.recent(since=since, operation=query.get("operation"), limit=limit)
        return _json({"violations": recent, "count": len(recent)})

    async def metrics(request: web.BaseRequest) -> web.StreamResponse:
        body, content_type = gateway.reporter.metrics.render()
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        response.headers[SOURCE_HEADER] = "gateway"
        return response

    async def cassettes(request: web.BaseRequest) -> web.StreamResponse:
        listing = [
            {
                "name": cassette.name,
                "interactions": len(cassette),
                "plays": cassette.plays,
                "recording": gateway.writer is not None
                and index == 0
                and gateway.settings.mode == "record",
            }
            for index, cassette in enumerate(gateway.cassettes)
        ]
        return _json(
            {
                "cassette_dir": str(gateway.settings.cassette_dir),
                "record_mode": gateway.record_mode if gateway.settings.mode == "record" else None,
                "recorded": gateway.recorded,
                "match_on": list(gateway.settings.match_on),
                "cassettes": listing,
            }
        )

    async def state(request: web.BaseRequest) -> web.StreamResponse:
        # issue 13: the stateful mock's store (proxy.state).
        store = gateway.state.store if gateway.state is not None else None
        if store is None:
            return problem("bad-request", "the mock keeps no state here (mock with --state on)")
        if request.method == "DELETE":
            store.reset()
        return _json(store.snapshot())

    async def unknown(request: web.BaseRequest) -> web.StreamResponse:
        return problem(
            "unknown-route",
            f"no admin endpoint {request.path}; try {PREFIX}/health, {PREFIX}/violations, "
            f"{PREFIX}/metrics, {PREFIX}/cassettes or {PREFIX}/state",
        )

    routes = {
        f"{PREFIX}/health": health,
        f"{PREFIX}/violations": guarded(violations),
        f"{PREFIX}/metrics": guarded(metrics),
        f"{PREFIX}/cassettes": guarded(cassettes),
        STATE_PATH: guarded(state),  # issue 13
    }
    return routes, guarded(unknown)


def loop_name() -> str:
    """The running event loop's kind: `uvloop` or `asyncio`."""
    module = type(asyncio.get_running_loop()).__module__
    return "uvloop" if module.startswith("uvloop") else "asyncio"


def _json(value: object) -> web.Response:
    response = web.Response(body=orjson.dumps(value), content_type="application/json")
    response.headers[SOURCE_HEADER] = "gateway"
    return response
