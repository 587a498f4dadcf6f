"""Serve the gateway's application until SIGINT/SIGTERM, then finish in-flight requests and flush.

`start` runs the application with aiohttp's `AppRunner` (its `cleanup_ctx` opens and closes
what the mode holds) and reports the port picked for `--port 0`, which `web.run_app`
cannot. `serve` is the `portal-proxy` process's loop around it.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TextIO, TypeVar

from aiohttp import web

from proxy.keys import OWNS_PROCESS

#: How long in-flight requests may take to finish after a stop signal.
SHUTDOWN_TIMEOUT = 30.0

T = TypeVar("T")


def loop_factory(loop: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop `--loop` names: uvloop's for `uvloop`, and for `auto` when it is
    installed (the `fast` extra); None for asyncio's own."""
    if loop == "asyncio" or (loop == "auto" and importlib.util.find_spec("uvloop") is None):
        return None
    import uvloop

    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T], loop: str = "auto") -> T:
    """`asyncio.run(main)` on the event loop `--loop` names."""
    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        return runner.run(main)


class Runner:
    """A started gateway: its application, where it listens, and how to stop it."""

    def __init__(self, app: web.Application, runner: web.AppRunner) -> None:
        self.app = app
        self._runner = runner
        self._closed = False

    @property
    def addresses(self) -> list[Any]:
        """The addresses the server listens on (as aiohttp's runners report them)."""
        return self._runner.addresses

    async def cleanup(self) -> None:
        """Stop accepting, let in-flight requests finish, then flush and close (idempotent)."""
        if self._closed:
            return
        self._closed = True
        await self._runner.cleanup()


async def start(app: web.Application, host: str, port: int) -> tuple[Runner, str]:
    """Start serving `app`; returns the runner (to `cleanup()`) and the base URL it listens on."""
    runner = web.AppRunner(
        app,
        handle_signals=False,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        access_log=None,  # aiohttp's per-request logger costs more than the route itself
        auto_decompress=False,  # forward request bodies exactly as sent
    )
    await runner.setup()  # runs the cleanup_ctx: cassettes, recorder, upstream session
    started = Runner(app, runner)
    try:
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
    except BaseException:
        await started.cleanup()
        raise
    bound = runner.addresses[0]
    shown = f"[{bound[0]}]" if ":" in str(bound[0]) else bound[0]
    return started, f"http://{shown}:{bound[1]}"


async def serve(
    app: web.Application, host: str, port: int, mode: str, out: TextIO = sys.stdout
) -> None:
    """Serve `app` on host:port until SIGINT/SIGTERM; then shut down gracefully."""
    runner, url = await start(app, host, port)
    try:
        if app[OWNS_PROCESS]:
            # What start-up loaded lives as long as the process: move it out of the
            # collector's sight, or every full collection walks all of it (100,000
            # interactions: millions of objects) while requests wait. Only here, in the
            # `portal-proxy` process: a gateway inside a test run leaves the collector be.
            gc.freeze()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"portal-proxy {mode} listening on {url}", file=out, flush=True)
        await stop.wait()
    finally:
        # Stops accepting, waits for in-flight handlers, then flushes the recorder.
        await runner.cleanup()
