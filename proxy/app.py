"""Wire the pieces into an aiohttp application.

Routes: the admin endpoints under `/__proxy/`, then one catch-all handler that runs the
pipeline for the route (read body -> match -> validate request -> mode -> report).
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import AsyncIterator

from aiohttp import web

from proxy import admin
from proxy.exchange import Exchange
from proxy.gateway import Gateway
from proxy.modes import SERVE
from proxy.problems import SOURCE_HEADER, problem
from proxy.report import ExchangeReport, Reporter
from proxy.responses import strip_invented_headers
from proxy.settings import Settings
from proxy.spec import Spec
from proxy.validation import validate_request
from proxy.violations import header_value, violation
from proxy.webhook import WebhookAlerter

GATEWAY = web.AppKey("gateway", Gateway)

#: Cheap unique request ids: process id and a counter (a uuid4 costs more than the route).
_REQUEST_IDS = itertools.count(1)
_ID_PREFIX = f"{os.getpid():x}-"


def build_app(settings: Settings, spec: Spec | None = None) -> web.Application:
    """The gateway application for `settings` (spec loaded here unless given)."""
    spec = spec or Spec.load(settings.spec)
    webhook = (
        WebhookAlerter(settings.alert_webhook, window=settings.alert_window)
        if settings.alert_webhook
        else None
    )
    reporter = Reporter(log_format=settings.log_format, webhook=webhook)
    gateway = Gateway(settings, spec, reporter)
    app = web.Application(client_max_size=settings.max_body)
    app[GATEWAY] = gateway
    app.cleanup_ctx.append(_lifecycle)
    app.on_response_prepare.append(strip_invented_headers)
    admin.add_routes(app, gateway)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    gateway = app[GATEWAY]
    await gateway.start()
    yield
    await gateway.close()


async def handle(request: web.Request) -> web.StreamResponse:
    """Run one request through the pipeline of the configured mode."""
    gateway = request.app[GATEWAY]
    spec = gateway.spec
    settings = gateway.settings
    raw_path = request.rel_url.raw_path
    request_id = request.headers.get("X-Request-Id") or f"{_ID_PREFIX}{next(_REQUEST_IDS)}"
    if not spec.under_base(raw_path):
        return _finish(gateway, None, request, request_id, _unknown_route(request, spec))
    body = await _read_body(request, settings.max_body)
    if isinstance(body, web.Response):
        return _finish(gateway, None, request, request_id, body)
    route = spec.match(request.method, raw_path)
    ex = Exchange(request, body, route, request_id)
    forwarding = settings.mode == "proxy" or (
        settings.mode == "record" and gateway.record_mode != "none"
    )
    if route is None or route.operation is None:
        if forwarding:
            # Staging: traffic the spec does not describe still flows, and is reported.
            what = "path" if route is None else f"method {request.method} on this path"
            ex.violations.append(
                violation(
                    ["request"],
                    404 if route is None else 405,
                    f"{what} is not in the spec: {request.method} {raw_path}",
                    "Warning",
                )
            )
        elif route is None:
            # A path the spec does not know is still served if a cassette recorded it.
            hit = gateway.lookup(ex)
            answer = gateway.replay(ex, hit) if hit else _unknown_route(request, spec)
            return _finish(gateway, ex, request, request_id, answer)
        else:
            allowed = ", ".join(route.allowed)
            refused = problem(
                "method-not-allowed",
                f"{request.method} is not allowed on {raw_path}; allowed: {allowed}",
                headers={"Allow": allowed},
                allowed=list(route.allowed),
            )
            return _finish(gateway, ex, request, request_id, refused)
    else:
        violations, parsed = validate_request(
            route.operation,
            route.path_params,
            request.rel_url.raw_query_string,
            request.headers,
            body,
        )
        ex.violations.extend(violations)
        ex.parsed = parsed
    response = await SERVE[settings.mode](gateway, ex)
    return _finish(gateway, ex, request, request_id, response)


def _finish(
    gateway: Gateway,
    ex: Exchange | None,
    request: web.Request,
    request_id: str,
    response: web.StreamResponse,
) -> web.StreamResponse:
    """Add our headers and report the exchange to every sink."""
    violations = ex.violations if ex is not None else []
    if violations:
        response.headers["sl-violations"] = header_value(violations)
    source = response.headers.get(SOURCE_HEADER) or (ex.source if ex else "gateway")
    response.headers[SOURCE_HEADER] = source
    operation = ex.operation if ex is not None else None
    gateway.reporter.record(
        ExchangeReport(
            request_id=request_id,
            time=time.time(),
            mode=gateway.settings.mode,
            method=request.method,
            path=request.rel_url.raw_path,
            operation_id=operation.operation_id if operation is not None else None,
            status=response.status,
            source=source,
            violations=violations,
            upstream_latency=ex.upstream_latency if ex is not None else None,
        )
    )
    return response


def _unknown_route(request: web.Request, spec: Spec) -> web.Response:
    base = spec.base_path or "/"
    return problem(
        "unknown-route",
        f"no route {request.method} {request.rel_url.raw_path}; this gateway serves the "
        f"paths of {spec.source} under {base}",
    )


async def _read_body(request: web.Request, limit: int) -> bytes | web.Response:
    """Read the body, refusing it with 413 as soon as it is known to exceed `limit`."""
    declared = request.content_length
    if declared is not None and declared > limit:
        return _too_large(declared, limit)
    if not request.body_exists:
        return b""
    if declared is not None:
        return await request.read()  # length known and within the limit: one read
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.readany()
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            return _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> web.Response:
    response = problem(
        "payload-too-large",
        f"request body of at least {size} bytes exceeds --max-body {limit} bytes",
        limit=limit,
    )
    # The rest of the body is not read: close the connection rather than drain it.
    response.force_close()
    return response
