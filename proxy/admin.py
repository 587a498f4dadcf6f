"""The gateway's own endpoints under `/__proxy/`: health, ready, violations, metrics, cassettes.

They are answered here and never forwarded. With `--admin-token T`, all but `health` and
`ready` require `Authorization: Bearer T`, or the session cookie `GET /__proxy/?token=T` sets
(a browser cannot send a bearer token on a page load); comparison is constant-time. `handle`
dispatches by exact path (GET and HEAD); `proxy.app` hands it every request under `/__proxy`.
The violations page, its stream and its exchanges are `proxy.ui`'s.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from proxy import __version__, ui
from proxy.keys import OPENED, SETTINGS, SINKS, SPEC
from proxy.problems import SOURCE_HEADER, method_not_allowed, problem
from proxy.responses import json_response

PREFIX = "/__proxy"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: The methods every admin endpoint answers.
METHODS = ("GET", "HEAD")
#: The stateful mock's state: GET shows it, DELETE resets it.
STATE_PATH = f"{PREFIX}/state"

#: The session cookie of the violations page, scoped to the admin endpoints.
COOKIE = "portal_proxy_admin"
_COOKIE_PATH = PREFIX + "/"


def owns(path: str) -> bool:
    """True for the paths under `/__proxy` (the gateway's own, never forwarded)."""
    return path == PREFIX or path.startswith(PREFIX + "/")


async def handle(request: web.Request) -> web.StreamResponse:
    """Answer one admin request."""
    handler = _ROUTES.get(request.path)
    if handler is None and request.path.startswith(ui.EXCHANGE_PREFIX):
        handler = _EXCHANGE  # /__proxy/exchanges/{id}
    if handler is None:
        return await _UNKNOWN(request)
    # DELETE resets the mock's state, on that path only.
    methods = (*METHODS, "DELETE") if request.path == STATE_PATH else METHODS
    if request.method not in methods:
        return method_not_allowed(request.method, request.path, methods)
    return await handler(request)


def _guarded(handler: Handler) -> Handler:
    async def check(request: web.Request) -> web.StreamResponse:
        if not authorized(request):
            return _refused()
        return await handler(request)

    return check


def authorized(request: web.Request) -> bool:
    """True without `--admin-token`, else for the bearer token or the page's session cookie."""
    token = request.app[SETTINGS].admin_token
    if token is None:
        return True
    sent = request.headers.get("Authorization", "")
    if hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return True
    cookie = request.cookies.get(COOKIE)
    return cookie is not None and hmac.compare_digest(cookie.encode(), session(token).encode())


def session(token: str) -> str:
    """The session cookie's value for `token`: an HMAC of a fixed label keyed by the token.

    It is not the token (a cookie jar, a proxy's log or a screenshot of devtools does not
    reveal it), it changes when the token does, and it survives a restart, so an open page
    reconnects on its own after the gateway comes back (a per-process key would log every
    open page out on each restart, and EventSource gives up on a 401).
    """
    return hmac.new(token.encode(), b"portal-proxy admin session v1", hashlib.sha256).hexdigest()


def _refused() -> web.Response:
    return problem(
        "unauthorized",
        "this endpoint requires `Authorization: Bearer <admin token>` (or, in a browser, "
        f"open {PREFIX}/?token=<admin token> once)",
        headers={"WWW-Authenticate": 'Bearer realm="portal-proxy"'},
    )


async def _page(request: web.Request) -> web.StreamResponse:
    """The violations page; `?token=T` logs a browser in (cookie, then 303 without it)."""
    if "token" not in request.query:
        return await _guarded(ui.page_handler)(request)
    token = request.app[SETTINGS].admin_token
    given = request.query["token"]
    if token is not None and not hmac.compare_digest(given.encode(), token.encode()):
        return _refused()  # and sets nothing
    # 303: the page again, by GET, without the token in the address bar or the history.
    response = web.Response(status=303, headers={"Location": _COOKIE_PATH})
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers[SOURCE_HEADER] = "gateway"
    if token is not None:
        response.set_cookie(
            COOKIE,
            session(token),
            path=_COOKIE_PATH,
            httponly=True,
            samesite="Strict",
            secure=request.secure,
        )
    return response


async def _to_page(request: web.Request) -> web.StreamResponse:
    """`/__proxy` -> `/__proxy/`, where the session cookie is sent (query kept: `?token=`)."""
    location = _COOKIE_PATH + (f"?{request.query_string}" if request.query_string else "")
    return web.Response(status=308, headers={"Location": location, SOURCE_HEADER: "gateway"})


async def _health(request: web.Request) -> web.StreamResponse:
    app = request.app
    spec = app[SPEC]
    return _json(
        {
            "status": "ok",
            "mode": app[SETTINGS].mode,
            "version": __version__,
            "spec": spec.source,
            "operations": len(spec.operations),
            "loop": loop_name(),
        }
    )


async def _violations(request: web.Request) -> web.StreamResponse:
    query = request.query
    try:
        since = float(query["since"]) if "since" in query else None
        limit = int(query.get("limit", "100"))
    except ValueError:
        return problem("bad-request", "`since` must be a unix time and `limit` an integer")
    if limit < 1:
        return problem("bad-request", "`limit` must be at least 1")
    recent = request.app[SINKS].recent.recent(
        since=since, operation=query.get("operation"), limit=limit
    )
    return _json({"violations": recent, "count": len(recent)})


async def _ready(request: web.Request) -> web.StreamResponse:
    # Only an upstream in use can make us unready: mock and replay (and record that only
    # replays) are ready once loaded, and nothing answers before that.
    app = request.app
    opened = app[OPENED]
    upstream = opened.upstream if opened.forwards else None
    state = upstream.readiness.state() if upstream is not None else None
    if upstream is not None and state is not None and not state.ready:
        return problem(
            "not-ready",
            state.reason or "the upstream is failing",
            upstream=upstream.origin,
            since=state.since,
            checked=state.checked,
        )
    return _json(
        {
            "status": "ready",
            "mode": app[SETTINGS].mode,
            "upstream": upstream.origin if upstream is not None else None,
            "checked": state.checked if state is not None else None,
        }
    )


async def _metrics(request: web.Request) -> web.StreamResponse:
    body, content_type = request.app[SINKS].metrics.render()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    response.headers[SOURCE_HEADER] = "gateway"
    return response


async def _cassettes(request: web.Request) -> web.StreamResponse:
    app = request.app
    settings, opened = app[SETTINGS], app[OPENED]
    recorder = opened.recorder
    recording = recorder.path.stem if recorder is not None else None
    listing = [
        {
            "name": cassette.name,
            "interactions": len(cassette),
            "plays": cassette.plays,
            "recording": cassette.name == recording,
        }
        for cassette in opened.library.cassettes
    ]
    return _json(
        {
            "cassette_dir": str(settings.cassette_dir),
            "record_mode": opened.record_mode,
            "recorded": recorder.recorded if recorder is not None else 0,
            "match_on": list(settings.match_on),
            "cassettes": listing,
        }
    )


async def _state(request: web.Request) -> web.StreamResponse:
    # The stateful mock's store (proxy.state): shown, or reset by DELETE.
    state = request.app[OPENED].state
    if state is None:
        return problem("bad-request", "this gateway keeps no state (it does in mock, --state on)")
    if request.method == "DELETE":
        state.store.reset()
    return _json(state.store.snapshot())


async def _unknown(request: web.Request) -> web.StreamResponse:
    return problem(
        "unknown-route",
        f"no admin endpoint {request.path}; try {PREFIX}/ (the violations page), "
        f"{PREFIX}/health, {PREFIX}/ready, {PREFIX}/violations, {PREFIX}/metrics, "
        f"{PREFIX}/cassettes or {PREFIX}/state",
    )


_ROUTES: dict[str, Handler] = {
    f"{PREFIX}/health": _health,
    f"{PREFIX}/ready": _ready,  # like health, no token: orchestrators probe it
    f"{PREFIX}/violations": _guarded(_violations),
    f"{PREFIX}/metrics": _guarded(_metrics),
    f"{PREFIX}/cassettes": _guarded(_cassettes),
    STATE_PATH: _guarded(_state),
    # The violations page, its live stream and the kept exchanges.
    PREFIX: _to_page,
    f"{PREFIX}/": _page,
    f"{PREFIX}/ui": _page,
    f"{PREFIX}/violations/stream": _guarded(ui.stream),
    f"{PREFIX}/exchanges": _guarded(ui.exchanges),
}
_EXCHANGE = _guarded(ui.exchange)
_UNKNOWN = _guarded(_unknown)


def loop_name() -> str:
    """The running event loop's kind: `uvloop` or `asyncio`."""
    module = type(asyncio.get_running_loop()).__module__
    return "uvloop" if module.startswith("uvloop") else "asyncio"


def _json(value: object) -> web.Response:
    return json_response(200, value, "gateway")
