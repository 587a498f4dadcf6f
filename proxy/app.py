"""Wire the gateway: a `web.Application` whose one route runs the pipeline.

State lives in typed `web.AppKey`s; what a mode opens (cassettes, the upstream session, the
recorder) is opened and closed by a `cleanup_ctx`, so a graceful stop finishes in-flight
requests first and flushes recordings after. Requests under `/__proxy/` are the gateway's
own (`proxy.admin`); every other request goes through `proxy.pipeline`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from aiohttp import hdrs, web
from aiohttp.http import HttpVersion11

from proxy import admin
from proxy.cors import CorsPolicy, cors_middleware
from proxy.everything import Everything
from proxy.keys import OPENED, OWNS_PROCESS, PIPELINE, REDACTOR, SETTINGS, SINKS, SPEC
from proxy.modes import cors_enabled, open_mode, redactor_for
from proxy.pipeline import Pipeline
from proxy.responses import strip_invented_headers
from proxy.settings import Settings
from proxy.sinks import build_sinks
from proxy.spec import Spec


def build_app(
    settings: Settings, spec: Spec | None = None, *, owns_process: bool = False
) -> web.Application:
    """The gateway for `settings` (spec loaded here unless given).

    `owns_process` lets start-up pause the garbage collector while it indexes cassettes; a
    gateway inside another program (the pytest plugin) leaves the process as it found it.
    """
    spec = spec or Spec.load(settings.spec)
    redactor = redactor_for(settings, spec)
    sinks = build_sinks(settings, redactor, owns_stderr=owns_process)
    middlewares = []
    if cors_enabled(settings):  # browsers on another origin (proxy/cors.py)
        policy = CorsPolicy(spec, settings.cors_origin)
        middlewares.append(cors_middleware(policy, sinks.access_log))
    app = web.Application(client_max_size=settings.max_body, middlewares=middlewares)
    app[SETTINGS] = settings
    app[SPEC] = spec
    app[REDACTOR] = redactor  # one, for cassettes, the page's exchanges and the access log
    app[SINKS] = sinks
    app[OWNS_PROCESS] = owns_process
    app.cleanup_ctx.append(_lifetime)
    # Live streams end when the stop begins, or they would hold it for 30 s.
    app.on_shutdown.append(_end_streams)
    # A passthrough must reach the client with exactly the headers it had; this signal runs
    # after aiohttp has added its defaults and before the headers are written.
    app.on_response_prepare.append(_strip_invented)
    # The spec routes requests (proxy.routes); aiohttp's router only hands them over. The
    # base path has a resource of its own, so its requests are found at their first prefix.
    for prefix in {spec.base_path or "/", "/"}:
        app.router.register_resource(Everything(prefix, _handle, _expect))
    return app


async def _lifetime(app: web.Application) -> AsyncIterator[None]:
    settings, spec, sinks = app[SETTINGS], app[SPEC], app[SINKS]
    opened = await open_mode(settings, spec, pause_gc=app[OWNS_PROCESS], redactor=app[REDACTOR])
    try:
        await sinks.start()
    except BaseException:
        await opened.close()
        raise
    app[OPENED] = opened
    app[PIPELINE] = Pipeline(settings, spec, opened, sinks)
    try:
        yield
    finally:
        try:
            await opened.close()  # flushes the recorder: in-flight requests are done by now
        finally:
            await sinks.close()


async def _handle(request: web.Request) -> web.StreamResponse:
    app = request.app
    if admin.owns(request.path):
        started = time.perf_counter()
        response = await admin.handle(request)
        access_log = app[SINKS].access_log  # one line for every request
        if access_log is not None:
            access_log.own(request, response, started)
        return response
    return await app[PIPELINE].handle(request)


async def _end_streams(app: web.Application) -> None:
    app[SINKS].exchanges.end_streams()


async def _strip_invented(request: web.Request, response: web.StreamResponse) -> None:
    strip_invented_headers(response)


async def _expect(request: web.Request) -> None:
    """Answer `Expect: 100-continue` (curl sends it for larger bodies) as aiohttp's default
    handler does. Any other expectation is refused by the pipeline (417 problem+json, where
    aiohttp's default would answer plain text), as is a body declared too large (413)."""
    if request.version != HttpVersion11:
        return
    if request.headers.get(hdrs.EXPECT, "").lower() != "100-continue":
        return
    declared = request.content_length
    if declared is not None and declared > request.app[SETTINGS].max_body:
        return
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    # As aiohttp's own handler does: the interim response is not part of the response.
    request.writer.output_size = 0
