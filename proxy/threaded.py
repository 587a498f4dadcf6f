"""A gateway served from a thread of its own, with its own event loop (`PortalProxy`).

This is how the pytest plugin runs gateways, as pytest-httpserver runs its server: the same
object then serves sync tests (`requests`, `urllib`) and async ones (any loop or framework),
and a sync client inside an async test cannot deadlock the server. What the gateway saw is
read on its own thread, between requests, so each copy is consistent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from proxy.settings import Settings

if TYPE_CHECKING:
    from aiohttp import web

    from proxy.violations import Violation

T = TypeVar("T")

#: Seconds to wait for a gateway to start, and to stop (in-flight requests, then the flush).
START_TIMEOUT = 30.0
STOP_TIMEOUT = 60.0


class PortalProxy:
    """One gateway the `portal_proxy` fixture started, serving from a thread of its own.

    `url` is the base URL of the route (the server's URL plus the spec's base path,
    `http://127.0.0.1:PORT/portal-api`); `server_url` is the same without the base path (for
    the admin endpoints under `/__proxy/`). `violations`, `reports` and `plays` are read from
    the gateway when asked; after `close` they keep their final values.
    """

    def __init__(self, settings: Settings, cassette_path: Path | None) -> None:
        """Use the `portal_proxy` fixture; `start` serves, `close` stops and flushes."""
        self.settings = settings
        self.cassette_path = cassette_path
        self.server_url = ""
        self.url = ""
        self._app: web.Application | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._final: tuple[list[dict[str, Any]], dict[str, int]] | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"portal-proxy {settings.mode}", daemon=True
        )

    def __repr__(self) -> str:
        return f"<PortalProxy {self.settings.mode} {self.url or '(not started)'}>"

    @property
    def mode(self) -> str:
        """The gateway's mode: mock, replay, record or proxy."""
        return self.settings.mode

    @property
    def reports(self) -> list[dict[str, Any]]:
        """The exchanges that had violations, oldest first, as `GET /__proxy/violations`
        lists them (`method`, `path`, `status`, `source`, `violations`, ...)."""
        return self._snapshot()[0]

    @property
    def violations(self) -> list[Violation]:
        """Every violation so far, oldest first (`location`, `severity`, `code`, `message`)."""
        return [v for report in self.reports for v in report["violations"]]

    @property
    def plays(self) -> dict[str, int]:
        """How often each loaded cassette was played, by cassette name."""
        return self._snapshot()[1]

    def start(self) -> None:
        """Start serving; raises what stopped the gateway from starting."""
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError(f"portal-proxy did not start within {START_TIMEOUT:.0f} s")
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def close(self) -> None:
        """Stop serving: finish in-flight requests, flush recordings, end the thread."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and self._thread.is_alive():
            # The loop may have ended meanwhile (it failed); the join below says how.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread.ident is not None:
            self._thread.join(STOP_TIMEOUT)
            if self._thread.is_alive():
                raise RuntimeError(f"portal-proxy at {self.url} did not stop in {STOP_TIMEOUT} s")
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self) -> None:
        # Everything is caught here: an exception escaping a thread is only a warning, which
        # pytest (with filterwarnings=error) would pin on whichever test runs next.
        try:
            from proxy.server import run

            run(self._serve(), self.settings.loop)
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        from proxy.app import build_app
        from proxy.keys import SPEC
        from proxy.server import start

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        app = build_app(self.settings)
        runner, server_url = await start(app, self.settings.host, self.settings.port)
        try:
            self._app = app
            self.server_url = server_url
            self.url = server_url + app[SPEC].base_path
            self._ready.set()
            await self._stop.wait()
        finally:
            # Stops accepting, lets in-flight requests finish, closes the cassette writer.
            await runner.cleanup()
            self._final = self._read()

    def _read(self) -> tuple[list[dict[str, Any]], dict[str, int]]:
        assert self._app is not None
        from proxy.keys import OPENED, SINKS

        app = self._app
        newest_first = app[SINKS].recent.recent(limit=1_000_000)
        return newest_first[::-1], {c.name: c.plays for c in app[OPENED].library.cassettes}

    def _snapshot(self) -> tuple[list[dict[str, Any]], dict[str, int]]:
        if self._final is not None:
            return self._final
        if self._app is None:
            return [], {}
        # Read on the gateway's own thread, between requests, so the copy is consistent.
        return self._call(self._read)

    def _call(self, fn: Callable[[], T]) -> T:
        assert self._loop is not None
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(START_TIMEOUT)
