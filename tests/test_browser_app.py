"""A browser app on another origin, in a real headless Chromium, calls the gateway with fetch.

The page (served from a second loopback origin by `tests.browser.serve_html`) does what a
frontend does: a credentialed-looking JSON POST, then it shows the status, the body and the
two headers it reads from JavaScript. Chromium decides what CORS lets through; nothing of
ours stands in for it. One browser serves the whole module.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
import pytest
import pytest_asyncio

from proxy.app import build_app
from proxy.server import start
from proxy.settings import Mode, Settings
from proxy.standin import Standin
from tests.browser import playwright_chromium, serve_html
from tests.servers import served

if TYPE_CHECKING:
    from playwright.async_api import Browser

# One Chromium for the module (about 1.5 s to start), the module's tests about 7 s in all.
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]

ROUTE = "/portal-api/products/1/client_types"

#: The issue's call, as a page would make it; the page shows what JavaScript can read.
PAGE = """<!doctype html>
<title>client types</title>
<pre id="out"></pre>
<script>
const params = new URLSearchParams(location.search);
const out = document.getElementById("out");
fetch(params.get("gateway") + "/portal-api/products/1/client_types", {
  method: "POST",
  headers: {"Content-Type": "application/json", "Authorization": "tok"},
  body: params.get("body"),
}).then(async (response) => {
  out.textContent = JSON.stringify({
    status: response.status,
    body: await response.text(),
    violations: response.headers.get("sl-violations"),
    source: response.headers.get("X-Portal-Proxy-Source"),
  });
}, (error) => {
  out.textContent = JSON.stringify({error: error.name});
}).finally(() => out.dataset.done = "yes");
</script>
"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with playwright_chromium() as chromium:
        yield chromium


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def page_url() -> AsyncIterator[str]:
    async with serve_html(PAGE) as url:
        yield url


@asynccontextmanager
async def gateway(mode: Mode, tmp_path: Path, **changes: Any) -> AsyncIterator[str]:
    """A gateway in this module's event loop (the shared fixtures run in each test's own)."""
    settings = Settings(mode=mode, port=0, cassette_dir=tmp_path / "cassettes", **changes)
    runner, url = await start(build_app(settings), "127.0.0.1", 0)
    try:
        yield url
    finally:
        await runner.cleanup()


@asynccontextmanager
async def standin() -> AsyncIterator[str]:
    """The stand-in portal, listening on loopback."""
    async with served(Standin().app()) as url:
        yield url


async def shown(browser: Browser, page_url: str, gateway_url: str, body: str = '{"ID": 11}') -> Any:
    """Open the page against `gateway_url`; what it shows once its fetch settled."""
    query = urllib.parse.urlencode({"gateway": gateway_url, "body": body})
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(f"{page_url}?{query}")
        await page.wait_for_selector("#out[data-done]", timeout=10_000)
        return orjson.loads(await page.text_content("#out") or "null")
    finally:
        await context.close()


async def test_mock_attaches_a_client_type_and_the_page_reads_the_verdict(
    browser: Browser, page_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="portal_proxy.access")
    async with gateway("mock", tmp_path) as url:
        seen = await shown(browser, page_url, url)
        assert (seen["status"], seen["source"], seen["violations"]) == (201, "mock", None)
        assert orjson.loads(seen["body"])["ID"] == 11
        # A payload the spec refuses: the page can read the verdict itself.
        seen = await shown(browser, page_url, url, body='{"ID": "eleven"}')
    assert (seen["status"], seen["source"]) == (422, "mock")
    assert orjson.loads(seen["violations"])[0]["location"] == ["request", "body", "ID"]
    # The terminal: one access-log line per request, the preflight included.
    lines = [r.getMessage().split()[:4] for r in caplog.records if r.name == "portal_proxy.access"]
    assert ["OPTIONS", ROUTE, "204", "gateway"] in lines
    assert ["POST", ROUTE, "201", "mock"] in lines


async def test_replay_a_hit_and_a_miss(browser: Browser, page_url: str, tmp_path: Path) -> None:
    async with standin() as upstream:
        recording = gateway(
            "record", tmp_path, upstream=upstream, cassette="browser", record_mode="all"
        )
        async with recording as url, aiohttp.ClientSession() as session:
            headers = {"Content-Type": "application/json", "Authorization": "tok"}
            async with session.post(url + ROUTE, data=b'{"ID": 11}', headers=headers) as answer:
                assert answer.status == 201
    async with gateway("replay", tmp_path) as url:
        hit = await shown(browser, page_url, url)
        miss = await shown(browser, page_url, url, body='{"ID": 12}')
    assert (hit["status"], hit["source"], hit["violations"]) == (201, "cassette", None)
    assert orjson.loads(hit["body"])["ID"] == 11
    assert (miss["status"], miss["source"]) == (404, "gateway")
    assert orjson.loads(miss["body"])["type"] == "urn:portal-proxy:problem:replay-miss"


async def test_proxy_with_cors_on(browser: Browser, page_url: str, tmp_path: Path) -> None:
    async with (
        standin() as upstream,
        gateway("proxy", tmp_path, upstream=upstream, cors="on") as url,
    ):
        seen = await shown(browser, page_url, url)
    assert (seen["status"], seen["source"], seen["violations"]) == (201, "upstream", None)
    assert orjson.loads(seen["body"])["ID"] == 11


async def test_the_browser_blocks_the_call_with_cors_off(
    browser: Browser, page_url: str, tmp_path: Path
) -> None:
    async with gateway("mock", tmp_path, cors="off") as url:
        seen = await shown(browser, page_url, url)
    assert seen == {"error": "TypeError"}
