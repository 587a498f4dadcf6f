"""The route's pipeline: read -> match and validate -> first source that answers -> sinks.

`Pipeline.handle` is the whole path of a request under the spec's base path. What answers
is decided by the mode's sources (`proxy.modes`); what is reported, by the sinks
(`proxy.sinks`). Nothing here knows a mode by name.
"""

from __future__ import annotations

import itertools
import os
import time

from aiohttp import hdrs, web
from aiohttp.http import HttpVersion11

from proxy.exchange import Exchange
from proxy.modes import Opened
from proxy.problems import SOURCE_HEADER, method_not_allowed, problem
from proxy.report import ExchangeReport
from proxy.settings import Settings
from proxy.sinks import Sinks
from proxy.spec import Spec
from proxy.validation import validate_request

#: Cheap unique request ids: process id and a counter (a uuid4 costs more than the route).
_REQUEST_IDS = itertools.count(1)
_ID_PREFIX = f"{os.getpid():x}-"


class Pipeline:
    """One gateway's request path: its spec, its mode's sources and its sinks."""

    def __init__(self, settings: Settings, spec: Spec, opened: Opened, sinks: Sinks) -> None:
        self.settings = settings
        self.spec = spec
        self.sources = tuple(source.answer for source in opened.sources)
        self.forwards = opened.forwards
        self.sinks = sinks

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one request to the route (or to a path the spec does not know)."""
        started = time.perf_counter()
        spec = self.spec
        raw_path = request.rel_url.raw_path
        if not spec.under_base(raw_path):
            return self.finish(None, request, unknown_route(request, spec), started)
        body = await read_body(request, self.settings.max_body)
        if isinstance(body, web.Response):
            return self.finish(None, request, body, started)
        route = spec.match(request.method, raw_path)
        ex = Exchange(request, body, route)
        if route is not None and route.operation is not None:
            violations, parsed = validate_request(
                route.operation,
                route.path_params,
                request.rel_url.raw_query_string,
                request.headers,
                body,
            )
            ex.violations.extend(violations)
            ex.parsed = parsed
        elif route is not None and not self.forwards:
            return self.finish(
                ex,
                request,
                method_not_allowed(request.method, request.rel_url.raw_path, route.allowed),
                started,
            )
        for answer in self.sources:
            response = await answer(ex)
            if response is not None:
                return self.finish(ex, request, response, started)
        # Only a path the spec does not know gets here: no source answers it but a recording.
        return self.finish(ex, request, unknown_route(request, spec), started)

    def finish(
        self,
        ex: Exchange | None,
        request: web.BaseRequest,
        response: web.StreamResponse,
        started: float,
    ) -> web.StreamResponse:
        """Mark who answered, and hand the exchange's report to every sink."""
        headers = response.headers
        source = headers.get(SOURCE_HEADER) or (ex.source if ex is not None else "gateway")
        headers[SOURCE_HEADER] = source
        operation = ex.operation if ex is not None else None
        violations = ex.violations if ex is not None else []
        report = ExchangeReport(
            # Only exchanges with violations are reported by id; the others skip the work.
            request_id=request.headers.get("X-Request-Id") or f"{_ID_PREFIX}{next(_REQUEST_IDS)}"
            if violations
            else "",
            time=time.time(),
            mode=self.settings.mode,
            method=request.method,
            path=request.rel_url.raw_path,
            operation_id=operation.operation_id if operation is not None else None,
            status=response.status,
            source=source,
            violations=violations,
            upstream_latency=ex.upstream_latency if ex is not None else None,
            duration=time.perf_counter() - started,
            query=request.rel_url.raw_query_string,  # for the access log
        )
        self.sinks.emit(report, response, ex)
        return response


def unknown_route(request: web.BaseRequest, spec: Spec) -> web.Response:
    """404 problem+json for a path neither the spec nor a recording knows."""
    base = spec.base_path or "/"
    return problem(
        "unknown-route",
        f"no route {request.method} {request.rel_url.raw_path}; this gateway serves the "
        f"paths of {spec.source} under {base}",
    )


async def read_body(request: web.BaseRequest, limit: int) -> bytes | web.Response:
    """Read the body, refusing it with 413 as soon as it is known to exceed `limit`."""
    declared = request.content_length
    if declared is not None and declared > limit:
        return _too_large(declared, limit)
    expect = request.headers.get(hdrs.EXPECT)
    if expect is not None and request.version == HttpVersion11 and expect.lower() != "100-continue":
        return problem("expectation-failed", f"unsupported Expect: {expect}")
    if not request.body_exists:
        return b""
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
