"""`GET /__proxy/violations/stream` (Server-Sent Events, proxy/ui) and the admin token's
browser login (`?token=` -> cookie), over real HTTP with aiohttp's client."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from proxy.admin import COOKIE
from proxy.standin import Scripted
from tests.conftest import GatewayFactory, StandinServer

ADMIN = "admin-token-3e8c1"
HEADERS = {"Authorization": "portal-token", "Content-Type": "application/json"}
JSON = [("Content-Type", "application/json")]


async def events(response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, str]]:
    """The stream's events, each as its fields (`event`, `data`, `id`, `retry`)."""
    fields: dict[str, str] = {}
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if fields:
                yield fields
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


async def test_a_violation_arrives_with_its_summary_and_violations(
    gateway_factory: GatewayFactory, standin: StandinServer, session: aiohttp.ClientSession
) -> None:
    gw = await gateway_factory("proxy", upstream=standin.url)
    bad = orjson.dumps({"ID": 9, "GrantType": "bogus"})
    standin.standin.script.append(Scripted(201, bad, JSON))
    async with session.get(f"{gw.url}/__proxy/violations/stream") as stream:
        assert stream.status == 200
        assert stream.headers["Content-Type"] == "text/event-stream"
        received = events(stream)
        hello = await asyncio.wait_for(anext(received), 5)
        assert hello["event"] == "hello" and hello["retry"] == "2000"  # the page reconnects
        async with session.post(gw.route(7), json={"ID": 9}, headers=HEADERS) as answer:
            assert answer.status == 201
        event = await asyncio.wait_for(anext(received), 5)
    assert event["event"] == "violation"
    data = orjson.loads(event["data"])
    assert event["id"] == data["id"]
    assert data["method"] == "POST" and data["path"] == "/portal-api/products/7/client_types"
    assert data["status"] == 201 and data["source"] == "upstream"
    assert data["operation"] != "unknown" and data["time"] <= time.time()
    (violation,) = data["violations"]
    assert violation["location"] == ["response", "body", "GrantType"]
    assert violation["severity"] == "Error" and violation["code"] == "enum"
    assert "bogus" in violation["message"]


async def test_shutdown_ends_open_streams_at_once(
    gateway_factory: GatewayFactory, session: aiohttp.ClientSession
) -> None:
    gw = await gateway_factory("mock")
    async with session.get(f"{gw.url}/__proxy/violations/stream") as stream:
        await asyncio.wait_for(anext(events(stream)), 5)
        started = time.perf_counter()
        await gw.runner.cleanup()  # a graceful stop waits for in-flight handlers (30 s)
        assert time.perf_counter() - started < 5
        assert await stream.content.read() == b""  # the stream ended


async def status_of(session: aiohttp.ClientSession, url: str, **kw: Any) -> int:
    async with session.get(url, allow_redirects=False, **kw) as answer:
        return answer.status


async def test_the_page_stream_and_details_require_the_admin_token(
    gateway_factory: GatewayFactory, session: aiohttp.ClientSession
) -> None:
    gw = await gateway_factory("mock", admin_token=ADMIN)
    urls = [
        f"{gw.url}/__proxy/",
        f"{gw.url}/__proxy/ui",
        f"{gw.url}/__proxy/violations/stream",
        f"{gw.url}/__proxy/exchanges",
        f"{gw.url}/__proxy/exchanges/any",
    ]
    bearer = {"Authorization": f"Bearer {ADMIN}"}
    for url in urls:
        assert await status_of(session, url) == 401, url
        assert await status_of(session, url, headers={"Authorization": "Bearer wrong"}) == 401
        assert await status_of(session, url, headers=bearer) in (200, 404), url


async def test_token_login_sets_a_strict_cookie_and_a_wrong_token_sets_nothing(
    gateway_factory: GatewayFactory,
) -> None:
    gw = await gateway_factory("mock", admin_token=ADMIN)
    # A cookie jar, as a browser has (`unsafe`: aiohttp's keeps no cookies of an IP otherwise).
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.get(f"{gw.url}/__proxy/?token=wrong", allow_redirects=False) as no:
            assert no.status == 401 and "Set-Cookie" not in no.headers
        assert len(browser.cookie_jar) == 0
        login = f"{gw.url}/__proxy/?token={ADMIN}"
        async with browser.get(login, allow_redirects=False) as answer:
            assert answer.status == 303
            assert answer.headers["Location"] == "/__proxy/"  # the token is not carried on
            set_cookie = answer.headers["Set-Cookie"]
        assert ADMIN not in set_cookie  # the cookie is not the token
        attributes = {part.strip().split("=")[0].lower(): part for part in set_cookie.split(";")}
        assert {"httponly", "samesite", "path"} <= attributes.keys()
        assert attributes["samesite"].strip() == "SameSite=Strict"
        assert attributes["path"].strip() == "Path=/__proxy/"
        # The cookie opens every admin endpoint that takes the token, and nothing else sees it.
        for path in ("/__proxy/", "/__proxy/exchanges", "/__proxy/violations", "/__proxy/metrics"):
            assert await status_of(browser, gw.url + path) == 200, path
        async with browser.get(f"{gw.url}/__proxy/violations/stream") as stream:
            assert stream.status == 200
        async with browser.get(f"{gw.url}/__proxy/") as page:
            assert ADMIN not in await page.text()
    # A forged cookie opens nothing.
    async with aiohttp.ClientSession(cookies={COOKIE: "0" * 64}) as forged:
        assert await status_of(forged, f"{gw.url}/__proxy/exchanges") == 401


async def test_the_page_is_one_file_with_a_strict_policy(
    mock_gateway: Any, session: aiohttp.ClientSession
) -> None:
    async with session.get(f"{mock_gateway.url}/__proxy") as answer:  # redirected to the page
        assert answer.status == 200 and answer.url.path == "/__proxy/"
        page = await answer.text()
        policy = answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert "unsafe-inline" not in policy
    # No address of another origin: only SVG's namespace name, which is never fetched.
    assert set(re.findall(r"https?://[^\s\"'`]+", page)) == {"http://www.w3.org/2000/svg"}
    async with session.head(f"{mock_gateway.url}/__proxy/violations/stream") as head:
        assert head.status == 200 and head.headers["Content-Type"] == "text/event-stream"
