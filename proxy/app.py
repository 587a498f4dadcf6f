"""Wire the pieces into the handler aiohttp's low-level server runs.

`GatewayApp` is called for every request: the admin endpoints under `/__proxy/`, else the
pipeline for the route (read body -> match -> validate request -> mode -> report).

It runs on `aiohttp.web.Server` rather than a `web.Application`: the gateway has one
catch-all route and no middleware, and the application's router, match info and signals
cost about a sixth of a request (measured with wrk; see bench/RESULTS.md).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http import HttpVersion11, RawRequestMessage
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler

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

#: Cheap unique request ids: process id and a counter (a uuid4 costs more than the route).
_REQUEST_IDS = itertools.count(1)
_ID_PREFIX = f"{os.getpid():x}-"


class GatewayRequest(web.BaseRequest):
    """A request of the gateway's server.

    `_prepare_hook` is where aiohttp's `web.Request` runs `on_response_prepare`, between
    aiohttp filling in its default headers and writing them: the one place a passthrough
    can drop the headers aiohttp invented (see `proxy.responses`). Tests of proxy and
    replay check that no header is invented, so a change of this hook in aiohttp shows.
    """

    __slots__ = ()

    async def _prepare_hook(self, response: web.StreamResponse) -> None:
        strip_invented_headers(response)


class GatewayApp:
    """The gateway as a low-level aiohttp handler: `await app(request)` answers a request.

    `startup` and `cleanup` open and close what the gateway holds (cassettes, recorder,
    upstream session); `proxy.server` calls them around serving.
    """

    def __init__(self, settings: Settings, spec: Spec | None = None) -> None:
        """Build the gateway for `settings` (spec loaded here unless given)."""
        spec = spec or Spec.load(settings.spec)
        webhook = (
            WebhookAlerter(settings.alert_webhook, window=settings.alert_window)
            if settings.alert_webhook
            else None
        )
        reporter = Reporter(log_format=settings.log_format, webhook=webhook)
        self.gateway = Gateway(settings, spec, reporter)
        self.settings = settings
        self._admin = admin.AdminRoutes(self.gateway)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def startup(self) -> None:
        """Load cassettes, open the recorder and the upstream session."""
        self._loop = asyncio.get_running_loop()  # the server's, as aiohttp's factory passes
        await self.gateway.start()

    async def cleanup(self) -> None:
        """Flush recordings and close the upstream session."""
        await self.gateway.close()

    def make_request(
        self,
        message: RawRequestMessage,
        payload: StreamReader,
        protocol: RequestHandler,
        writer: AbstractStreamWriter,
        task: asyncio.Task[None],
    ) -> web.BaseRequest:
        """aiohttp's `request_factory`: a `GatewayRequest` bounded by `--max-body`."""
        assert self._loop is not None, "startup() runs before the server accepts requests"
        return GatewayRequest(
            message,
            payload,
            protocol,
            writer,
            task,
            self._loop,
            client_max_size=self.settings.max_body,
        )

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        """Answer one request: an admin endpoint, or the route's pipeline."""
        if self._admin.owns(request.path):
            return await self._admin(request)
        return await handle(self.gateway, request)


def build_app(settings: Settings, spec: Spec | None = None) -> GatewayApp:
    """The gateway application for `settings` (spec loaded here unless given)."""
    return GatewayApp(settings, spec)


async def handle(gateway: Gateway, request: web.BaseRequest) -> web.StreamResponse:
    """Run one request through the pipeline of the configured mode."""
    spec = gateway.spec
    settings = gateway.settings
    raw_path = request.rel_url.raw_path
    if not spec.under_base(raw_path):
        return _finish(gateway, None, request, _unknown_route(request, spec))
    body = await _read_body(request, settings.max_body)
    if isinstance(body, web.Response):
        return _finish(gateway, None, request, body)
    route = spec.match(request.method, raw_path)
    ex = Exchange(request, body, route)
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
            return _finish(gateway, ex, request, answer)
        else:
            allowed = ", ".join(route.allowed)
            refused = problem(
                "method-not-allowed",
                f"{request.method} is not allowed on {raw_path}; allowed: {allowed}",
                headers={"Allow": allowed},
                allowed=list(route.allowed),
            )
            return _finish(gateway, ex, request, refused)
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
    return _finish(gateway, ex, request, response)


def _finish(
    gateway: Gateway,
    ex: Exchange | None,
    request: web.BaseRequest,
    response: web.StreamResponse,
) -> web.StreamResponse:
    """Add our headers and report the exchange to every sink."""
    headers = response.headers
    source = headers.get(SOURCE_HEADER) or (ex.source if ex is not None else "gateway")
    headers[SOURCE_HEADER] = source
    operation = ex.operation if ex is not None else None
    operation_id = operation.operation_id if operation is not None else None
    latency = ex.upstream_latency if ex is not None else None
    violations = ex.violations if ex is not None else None
    if not violations:
        # The usual exchange: only counted, so no report is built for it.
        gateway.reporter.count(operation_id, response.status, source, latency)
        return response
    headers["sl-violations"] = header_value(violations)
    gateway.reporter.record(
        ExchangeReport(
            request_id=request.headers.get("X-Request-Id") or f"{_ID_PREFIX}{next(_REQUEST_IDS)}",
            time=time.time(),
            mode=gateway.settings.mode,
            method=request.method,
            path=request.rel_url.raw_path,
            operation_id=operation_id,
            status=response.status,
            source=source,
            violations=violations,
            upstream_latency=latency,
        )
    )
    return response


def _unknown_route(request: web.BaseRequest, spec: Spec) -> web.Response:
    base = spec.base_path or "/"
    return problem(
        "unknown-route",
        f"no route {request.method} {request.rel_url.raw_path}; this gateway serves the "
        f"paths of {spec.source} under {base}",
    )


async def _read_body(request: web.BaseRequest, limit: int) -> bytes | web.Response:
    """Read the body, refusing it with 413 as soon as it is known to exceed `limit`."""
    declared = request.content_length
    if declared is not None and declared > limit:
        return _too_large(declared, limit)
    if not request.body_exists:
        return b""
    if request.headers.get(hdrs.EXPECT):
        refused = await _expect(request)
        if refused is not None:
            return refused
    if declared is not None:
        return await request.content.read()  # length known and within the limit: one read
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


async def _expect(request: web.BaseRequest) -> web.Response | None:
    """Answer `Expect: 100-continue` (curl sends it for larger bodies), as aiohttp's router
    would: the client waits for it before sending the body. Any other expectation: 417."""
    expect = request.headers.get(hdrs.EXPECT, "")
    if request.version != HttpVersion11:
        return None
    if expect.lower() != "100-continue":
        return problem("expectation-failed", f"unsupported Expect: {expect}")
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0  # the 100 is not part of the response
    return None
