"""Real aiohttp servers for the tests: an application served on 127.0.0.1, port 0."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web


async def start(
    app: web.Application, *, ssl_context: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, str]:
    """Serve `app` on loopback, port 0; returns its runner (to `cleanup()`) and base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    host, port = runner.addresses[0][:2]
    scheme = "https" if ssl_context is not None else "http"
    return runner, f"{scheme}://{host}:{port}"


@asynccontextmanager
async def served(
    app: web.Application, *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[str]:
    """`start`, as a context manager: yields the base URL, cleans up on the way out."""
    runner, url = await start(app, ssl_context=ssl_context)
    try:
        yield url
    finally:
        await runner.cleanup()
