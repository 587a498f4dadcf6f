"""A live client of the violations stream (`GET /__proxy/violations/stream`), for proxy-watched.

Issue 16 asks for the proxy/pass-through ratio with the violations page open and streaming.
The page's cost to the gateway is its Server-Sent Events stream, so the bench keeps one
reader attached during every measured round of `proxy-watched`: a process of its own on the
load core (where a browser would be), reading every event as it comes.

As a script: `python bench/stream_client.py URL`: prints `READY` once the stream's `hello`
event arrived, reconnects at once when the gateway ends the stream (as the page does, which
the gateway does to a client that fell behind), and on SIGTERM prints
`EVENTS n RECONNECTS m` and exits. `StreamClient` is the bench's side of it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import select
import signal
import subprocess
import sys
from dataclasses import dataclass

READY_TIMEOUT_S = 10.0


@dataclass
class StreamClient:
    """A running reader process; `stop` ends it and returns what it read."""

    proc: subprocess.Popen[str]

    @classmethod
    def start(cls, url: str, *, pin: bool) -> StreamClient:
        """Start a reader on the load core and wait until it is attached to the stream."""
        from procs import LOAD_CPU, pinned  # a sibling module: bench/ is on sys.path

        argv = pinned(LOAD_CPU, [sys.executable, __file__, url], pin)
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        client = cls(proc)
        ready, _, _ = select.select([proc.stdout], [], [], READY_TIMEOUT_S)
        line = proc.stdout.readline() if ready and proc.stdout else ""
        if line.strip() != "READY":
            client.stop()
            raise RuntimeError(f"stream client not attached to {url}: {line.strip()!r}")
        return client

    def stop(self) -> tuple[int, int]:
        """SIGTERM the reader (reaped here); (events, reconnects) it counted, (0, 0) if none."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            output, _ = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            output, _ = self.proc.communicate()
        for line in output.splitlines():
            if line.startswith("EVENTS "):
                fields = line.split()
                return int(fields[1]), int(fields[3])
        return 0, 0


async def _read(url: str, counts: dict[str, int], ready: asyncio.Event) -> None:
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while True:
            async with session.get(url, headers={"Accept": "text/event-stream"}) as response:
                if response.status != 200:
                    raise RuntimeError(f"{url} answered {response.status}")
                async for line in response.content:
                    if line.startswith(b"event: violation"):
                        counts["events"] += 1
                    elif line.startswith(b"event: hello"):
                        if not ready.is_set():
                            print("READY", flush=True)
                        ready.set()
            counts["reconnects"] += 1  # the gateway ended the stream: attach again at once


async def _main(url: str) -> None:
    counts = {"events": 0, "reconnects": 0}
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    reader = asyncio.create_task(_read(url, counts, asyncio.Event()))
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if reader.done():  # it only ends by failing (it reconnects otherwise)
        print(f"ERROR {reader.exception()}", flush=True)
    else:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    print(f"EVENTS {counts['events']} RECONNECTS {counts['reconnects']}", flush=True)


def main() -> None:
    """The reader's command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("url")
    asyncio.run(_main(parser.parse_args().url))


if __name__ == "__main__":
    main()
