"""Memory of `portal-proxy proxy` after many violating exchanges, and the cost of a page open.

Starts the stand-in portal answering schema-violating 201s (`python -m proxy.standin
--invalid`) and a real `portal-proxy proxy` process in front of it (default
`--keep-exchanges`, 1,000), sends `--requests` violating exchanges (default 100,000) and reads
the proxy's VmRSS from /proc at checkpoints. Then it measures the proxy's throughput with wrk
(when installed) for `--seconds`, without and with a violations stream open (what the page
holds), and prints their ratio. Loopback only; every process it starts is stopped by its
process-group id.

    python bench/keep_exchanges_rss.py [--requests 100000] [--concurrency 32] [--seconds 10]
        [--keep 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).parent))
from procs import start, wait_ready  # a sibling module

ROUTE = "/portal-api/products/1/client_types"
HEADERS = {"Authorization": "bench-token", "Content-Type": "application/json"}
BODY = b'{"ID": 11}'


def free_port() -> int:
    """A port nothing listens on now (the OS's pick)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kb(pid: int) -> int:
    """VmRSS of one process, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


async def send(url: str, count: int, concurrency: int) -> None:
    """`count` violating exchanges through the proxy, `concurrency` at a time."""
    left = count

    async def worker(client: aiohttp.ClientSession) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            async with client.post(url + ROUTE, data=BODY, headers=HEADERS) as answer:
                await answer.read()
                if "sl-violations" not in answer.headers:
                    raise RuntimeError(f"not a violating exchange: {answer.status}")

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))


async def wrk_rps(wrk: str, url: str, seconds: int, stream: bool) -> tuple[float, int]:
    """Requests per second wrk reaches; with `stream`, while an SSE client reads the stream.
    Also returns how many events that client received."""
    events = 0

    async def read_stream() -> None:
        nonlocal events
        async with (
            aiohttp.ClientSession() as client,
            client.get(url + "/__proxy/violations/stream") as answer,
        ):
            async for line in answer.content:
                if line.startswith(b"event: violation"):
                    events += 1

    reader = asyncio.create_task(read_stream()) if stream else None
    await asyncio.sleep(0.2)
    lua = Path(__file__).with_name("post.lua")
    proc = await asyncio.create_subprocess_exec(
        *[wrk, "-t1", "-c32", f"-d{seconds}s", "--timeout", "5s", "-s", str(lua), url],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "BODY": BODY.decode(), "TOKEN": HEADERS["Authorization"]},
    )
    out, _ = await proc.communicate()
    if reader is not None:
        reader.cancel()
    line = next(x for x in out.decode().splitlines() if x.startswith("RESULT "))
    fields = dict(part.split("=", 1) for part in line.split()[1:])
    return float(fields["rps"]), events


async def measure(args: argparse.Namespace, url: str, pid: int) -> None:
    await send(url, 1000, args.concurrency)  # warm up: imports, caches, the first 1,000 kept
    print(f"{'exchanges':>10} {'VmRSS MiB':>10}")
    print(f"{1000:>10} {rss_kb(pid) / 1024:>10.1f}")
    done = 1000
    for checkpoint in (10_000, 25_000, 50_000, 100_000, args.requests):
        if checkpoint <= done or checkpoint > args.requests:
            continue
        await send(url, checkpoint - done, args.concurrency)
        done = checkpoint
        print(f"{done:>10} {rss_kb(pid) / 1024:>10.1f}")
    async with (
        aiohttp.ClientSession() as client,
        client.get(url + "/__proxy/exchanges?limit=1") as answer,
    ):
        counts = (await answer.json())["counts"]
    print(f"proxy counts: {counts}")
    wrk = shutil.which("wrk")
    if not args.seconds:
        return
    if wrk is None:
        print("wrk not installed: throughput not measured")
        return
    without, _ = await wrk_rps(wrk, url, args.seconds, stream=False)
    with_page, events = await wrk_rps(wrk, url, args.seconds, stream=True)
    print(f"rps without a stream: {without:.0f}; with one open: {with_page:.0f} "
          f"({events} events read); ratio {with_page / without:.2f}")  # fmt: skip
    print(f"VmRSS after the wrk runs: {rss_kb(pid) / 1024:.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10, help="0: no throughput runs")
    parser.add_argument("--keep", type=int, default=1000, help="the proxy's --keep-exchanges")
    args = parser.parse_args()
    if not 1000 < args.requests <= 1_000_000:
        parser.error("--requests must be in 1001..1000000")
    cli = shutil.which("portal-proxy") or str(Path(sys.executable).with_name("portal-proxy"))
    standin_port, proxy_port = free_port(), free_port()
    url = f"http://127.0.0.1:{proxy_port}"
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp)
        argv = [sys.executable, "-m", "proxy.standin", "--invalid", "--port", str(standin_port)]
        standin = start("standin", argv, logs, pin=False)
        proxy = start(
            "proxy",
            [
                cli,
                "proxy",
                "--upstream",
                f"http://127.0.0.1:{standin_port}",
                "--port",
                str(proxy_port),
                "--log-format",
                "json",
                "--keep-exchanges",
                str(args.keep),
            ],
            logs,
            pin=False,
            # The violation log is one line per exchange; the bench measures memory, not I/O.
            env={"PYTHONWARNINGS": "ignore"},
        )
        try:
            wait_ready(standin, standin_port, None, 30)
            wait_ready(proxy, proxy_port, url + "/__proxy/health", 30)
            started = time.perf_counter()
            asyncio.run(measure(args, url, proxy.pid))
            print(f"took {time.perf_counter() - started:.0f} s")
        finally:
            proxy.stop()
            standin.stop()


if __name__ == "__main__":
    main()
