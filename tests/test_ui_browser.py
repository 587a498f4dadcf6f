"""The violations page (proxy/ui) in a real headless Chromium, while the stand-in portal sends
schema-violating responses through `proxy`: live updates, the detail view, filters in the
URL, the admin token's login, reconnection after a restart. One browser for the module."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
import pytest
import pytest_asyncio

from proxy.app import build_app
from proxy.server import Runner, start
from proxy.settings import Settings
from proxy.standin import Scripted, Standin
from tests.browser import playwright_chromium
from tests.conftest import ROUTE
from tests.servers import served

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

PORTAL_SECRET = "portal-secret-8d21f"
SET_COOKIE_SECRET = "sid=set-cookie-secret-5c"
ADMIN = "admin-secret-77b3"
JSON = [("Content-Type", "application/json")]
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "violations-page.png"
Serve = Callable[..., Awaitable[tuple[str, Runner]]]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with playwright_chromium() as chromium:
        yield chromium


@pytest_asyncio.fixture(loop_scope="module")
async def portal() -> AsyncIterator[tuple[Standin, str]]:
    fake = Standin()
    async with served(fake.app()) as url:
        yield fake, url


@pytest_asyncio.fixture(loop_scope="module")
async def serve(tmp_path: Path, portal: tuple[Standin, str]) -> AsyncIterator[Serve]:
    """Start `proxy` in front of the stand-in (port 0 unless given): its URL and runner."""
    started: list[Runner] = []

    async def factory(port: int = 0, **changes: Any) -> tuple[str, Runner]:
        settings = Settings(
            mode="proxy", upstream=portal[1], cassette_dir=tmp_path, port=port, **changes
        )
        runner, url = await start(build_app(settings), "127.0.0.1", port)
        started.append(runner)
        return url, runner

    yield factory
    for runner in reversed(started):
        await runner.cleanup()


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 720})
    tab = await context.new_page()
    yield tab
    await context.close()


async def violate(standin: Standin, url: str, status: int = 201, **body: Any) -> None:
    """One exchange through the proxy whose response breaks the spec."""
    answer = orjson.dumps({"ID": 3, "Name": "web", "GrantType": "bogus", **body})
    standin.script.append(Scripted(status, answer, [*JSON, ("Set-Cookie", SET_COOKIE_SECRET)]))
    headers = {"Authorization": PORTAL_SECRET, "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as client,
        client.post(url + ROUTE.format(3), json={"ID": 3}, headers=headers) as sent,
    ):
        assert sent.status == status


# Waits go through Playwright's `expect` (its own isolated script): `wait_for_function`
# evaluates a string, which the page's Content-Security-Policy rightly refuses.
async def rows(tab: Page, count: int) -> None:
    from playwright.async_api import expect

    await expect(tab.locator("#rows tr.row")).to_have_count(count, timeout=5000)


async def live(tab: Page, *, state: bool = True) -> None:
    from playwright.async_api import expect

    status = expect(tab.locator("#status"))
    await (status.to_have_text("live") if state else status.not_to_have_text("live"))


async def test_a_violation_appears_live_and_its_detail_shows_the_field_and_no_secret(
    browser: Browser, page: Page, serve: Serve, portal: tuple[Standin, str]
) -> None:
    url, _ = await serve()
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    await page.goto(url + "/__proxy/")
    await live(page)
    assert await page.locator("#rows tr.row").count() == 0
    await violate(portal[0], url)
    await rows(page, 1)  # no reload: it came over the stream
    row = page.locator("#rows tr.row").first
    assert "GrantType" in await row.inner_text() and "enum" in await row.inner_text()
    await row.click()
    marked = page.locator("#detail mark.bad")
    await marked.first.wait_for(timeout=5000)
    assert await marked.first.get_attribute("data-path") == "GrantType"
    assert '"bogus"' in await marked.first.inner_text()
    assert "exchange=" in page.url  # the selection is shareable too
    detail = await page.locator("#detail").inner_text()
    assert "Authorization" in detail and "REDACTED" in detail
    for text in (await page.content(), await page.locator("body").inner_text()):
        assert PORTAL_SECRET not in text and "set-cookie-secret" not in text
    assert all(seen.startswith(url + "/") for seen in requests), requests  # one origin only
    assert problems == []  # nothing refused by the page's own Content-Security-Policy
    await violate(portal[0], url, status=500, errors=["boom"])  # a Warning, for the picture
    await violate(portal[0], url, OktaAppType="desktop")
    await rows(page, 3)
    if os.environ.get("UPDATE_SCREENSHOT"):  # `UPDATE_SCREENSHOT=1 pytest tests/test_ui_...`
        await marked.first.scroll_into_view_if_needed()  # the marked field in the picture
        SCREENSHOT.parent.mkdir(exist_ok=True)
        await page.screenshot(path=str(SCREENSHOT))


async def test_a_filter_hides_what_it_should_and_survives_a_reload(
    page: Page, serve: Serve, portal: tuple[Standin, str]
) -> None:
    url, _ = await serve()
    await violate(portal[0], url)  # Error: GrantType
    await violate(portal[0], url, status=500)  # Warning: an undocumented status
    await page.goto(url + "/__proxy/")
    await rows(page, 2)
    await page.select_option("#f-sev", "Warning")
    await rows(page, 1)
    assert "500" in await page.locator("#rows tr.row").inner_text()
    assert "severity=Warning" in page.url
    await page.reload()
    await live(page)
    await rows(page, 1)
    assert await page.locator("#f-sev").input_value() == "Warning"
    await page.select_option("#f-sev", "")
    await rows(page, 2)


async def test_with_an_admin_token_the_page_needs_the_login(
    page: Page, serve: Serve, portal: tuple[Standin, str]
) -> None:
    url, _ = await serve(admin_token=ADMIN)
    refused = await page.goto(url + "/__proxy/")
    assert refused is not None and refused.status == 401
    await page.goto(f"{url}/__proxy/?token={ADMIN}")
    assert page.url == url + "/__proxy/"  # the token left the address bar
    await live(page)
    await violate(portal[0], url)
    await rows(page, 1)
    assert ADMIN not in await page.content()
    assert await page.evaluate("document.cookie") == ""  # HttpOnly: out of the script's reach


async def test_the_page_reconnects_when_the_gateway_restarts(
    page: Page, serve: Serve, portal: tuple[Standin, str]
) -> None:
    url, first = await serve()
    await page.goto(url + "/__proxy/")
    await live(page)
    await first.cleanup()  # the stream ends with it
    await live(page, state=False)
    again, _ = await serve(port=int(url.rsplit(":", 1)[1]))  # back, on the same port
    await live(page)
    await violate(portal[0], again)
    await rows(page, 1)
