"""Run an application until SIGINT/SIGTERM, then finish in-flight requests and flush.

`web.run_app` prints a banner and cannot report the port picked for `--port 0`; this does
the same graceful shutdown with `AppRunner`, printing one start-up line with the real URL.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import TextIO

from aiohttp import web

#: How long in-flight requests may take to finish after a stop signal.
SHUTDOWN_TIMEOUT = 30.0


async def start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Start serving `app`; returns the runner (to `cleanup()`) and the base URL it listens on."""
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,  # per-request logging costs more than the route itself
        auto_decompress=False,  # forward request bodies exactly as sent
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = runner.addresses[0]
    shown = f"[{bound[0]}]" if ":" in str(bound[0]) else bound[0]
    return runner, f"http://{shown}:{bound[1]}"


async def serve(
    app: web.Application, host: str, port: int, mode: str, out: TextIO = sys.stdout
) -> None:
    """Serve `app` on host:port until SIGINT/SIGTERM; then shut down gracefully."""
    runner, url = await start(app, host, port)
    try:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"portal-proxy {mode} listening on {url}", file=out, flush=True)
        await stop.wait()
    finally:
        # Stops accepting, waits for in-flight handlers, then runs cleanup_ctx (flush).
        await runner.cleanup()
