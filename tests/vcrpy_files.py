"""Cassettes written by VCR.py itself (and servers to record from), for the interop tests.

Each function records with `vcr.use_cassette` around a real client posting to a real
stand-in portal on loopback, so the files are exactly what VCR.py writes for that client.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import requests
import vcr
from aiohttp import web

from proxy.standin import Standin
from tests.conftest import ROUTE, TOKEN_HEADERS


@asynccontextmanager
async def standin_server(*, gzip_responses: bool = False) -> AsyncIterator[str]:
    """A stand-in portal on 127.0.0.1, port 0; yields its URL."""
    runner = web.AppRunner(Standin(gzip_responses=gzip_responses).app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def record_aiohttp_json(path: Path, url: str, *bodies: object, **headers: str) -> None:
    """VCR.py around aiohttp posting `json=body` for each body (VCR.py stores the bodies as
    YAML data), with VCR.py's defaults (no `decode_compressed_response`)."""
    with vcr.use_cassette(str(path)):
        async with aiohttp.ClientSession() as client:
            for body in bodies:
                async with client.post(url + ROUTE.format(1), json=body, headers=headers) as r:
                    await r.read()


def _chunks(body: bytes) -> Iterator[bytes]:
    yield body[:3]
    yield body[3:]


async def record_requests_body(path: Path, url: str, body: bytes, *, form: str) -> None:
    """VCR.py around `requests` posting `body` as a file (`form="file"`) or a generator."""

    def run() -> None:
        data = io.BytesIO(body) if form == "file" else _chunks(body)
        with vcr.use_cassette(str(path)):
            requests.post(url + ROUTE.format(1), data=data, headers=TOKEN_HEADERS, timeout=10)

    await asyncio.to_thread(run)
