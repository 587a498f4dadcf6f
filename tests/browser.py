"""A real headless Chromium for tests: where it is, the flags it runs with, how to start it.

Shared by every test that drives a browser (HAR capture and replay with Playwright here;
Selenium tests use the same binary and flags). Playwright's pip wheel brings its own driver,
and `executable_path` makes it use the system's Chromium: nothing is downloaded.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.servers import served

if TYPE_CHECKING:
    from playwright.async_api import Browser

#: The system's Chromium (Debian's `chromium` package).
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

#: Flags for a quiet, isolated headless run on a shared CI machine. Headless itself is the
#: driver's to set (Playwright: `headless=True`; Selenium: add `--headless=new`).
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def require_chromium() -> None:
    """Skip the calling test when Chromium is not installed (`.ci/run` installs it)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")


@asynccontextmanager
async def playwright_chromium() -> AsyncIterator[Browser]:
    """The system's Chromium, headless, driven by Playwright; closed on exit.

    Each context Playwright opens in it gets a fresh temporary profile of its own.
    """
    require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_FLAGS)
        )
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def serve_html(html: str) -> AsyncIterator[str]:
    """Serve `html` at `/` from an origin of its own (127.0.0.1, port 0); yields its URL.

    A page there is cross-origin to any gateway under test: the browser applies CORS.
    """
    from aiohttp import web

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    async with served(app) as url:
        yield f"{url}/"
