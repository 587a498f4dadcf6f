"""Which `proxy.*` modules one warm request passes through, in each mode.

Run: `.venv/bin/python bench/trace_modules.py` (from any checkout: it imports the `proxy`
package that is installed or on the path). It starts the stand-in portal and a gateway per
mode in-process on loopback port 0, sends one request to warm up and one traced with
`sys.setprofile`, and prints the modules in the order the request entered them; `xN` is how
many separate times the request entered that module (consecutive calls count once).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
from aiohttp import web

from proxy.app import build_app
from proxy.server import start
from proxy.settings import Settings
from proxy.standin import Standin

ROUTE = "/portal-api/products/1/client_types"
HEADERS = {"Authorization": "tok", "Content-Type": "application/json"}
BODY = b'{"ID": 11}'


async def _post(session: aiohttp.ClientSession, url: str) -> None:
    async with session.post(url + ROUTE, data=BODY, headers=HEADERS) as response:
        await response.read()


async def main() -> None:
    """Trace one request per mode and print the modules it passed through."""
    runner = web.AppRunner(Standin().app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    upstream = f"http://127.0.0.1:{runner.addresses[0][1]}"
    folder = Path(tempfile.mkdtemp())
    modes: list[tuple[str, dict[str, Any]]] = [
        ("mock", {}),
        ("replay", {"cassette": "c"}),
        ("record", {"upstream": upstream, "cassette": "d", "record_mode": "all"}),
        ("proxy", {"upstream": upstream}),
    ]
    async with aiohttp.ClientSession() as session:
        recorder = build_app(
            Settings(
                mode="record", upstream=upstream, cassette_dir=folder, cassette="c",
                record_mode="all",
            )
        )  # fmt: skip
        started, url = await start(recorder, "127.0.0.1", 0)
        await _post(session, url)  # the cassette that replay plays
        await started.cleanup()
        for mode, changes in modes:
            app = build_app(Settings(mode=mode, cassette_dir=folder, **changes))  # type: ignore[arg-type]
            started, url = await start(app, "127.0.0.1", 0)
            await _post(session, url)  # warm: caches filled, as in steady traffic
            seen: list[str] = []

            def profile(frame: FrameType, event: str, arg: object, seen: list[str] = seen) -> None:
                name = str(frame.f_globals.get("__name__", ""))
                ours = name.startswith("proxy") and name != "proxy.standin"
                if event == "call" and ours and (not seen or seen[-1] != name):
                    seen.append(name)

            threading.setprofile(profile)
            sys.setprofile(profile)
            await _post(session, url)
            sys.setprofile(None)
            threading.setprofile(None)  # type: ignore[arg-type]
            counts = {name: seen.count(name) for name in dict.fromkeys(seen)}
            shown = ", ".join(
                name.removeprefix("proxy.") + (f" x{n}" if n > 1 else "")
                for name, n in counts.items()
            )
            print(f"{mode}: {len(counts)} modules: {shown}")
            await started.cleanup()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
