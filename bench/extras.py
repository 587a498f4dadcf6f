"""Measures that are not a steady load: start-up, cassette loading, recording over time.

- start-up to first answer: spawn the server, POST until the first 201;
- cassette load: spawn `replay` with a cassette, time until `/__proxy/health` answers;
- recording over a fixed number of requests: req/s of each tenth of the run, so a cost that
  grows with the cassette shows as a last tenth slower than the first.
"""

from __future__ import annotations

import asyncio
import http.client
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import procs
from loadgen import BODY, TOKEN

HEADERS = {"Content-Type": "application/json", "Authorization": TOKEN}
ROUTE = "/portal-api/products/{}/client_types"


@dataclass
class Timing:
    """Repeated measurements of one duration, in seconds."""

    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        """The median sample."""
        return statistics.median(self.samples)

    def as_dict(self) -> dict[str, Any]:
        """Plain data, for results.json."""
        return {"median_s": self.median, "samples_s": self.samples}


def _post_once(port: int) -> int:
    """Status of one bench POST; 0 while nothing listens."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("POST", ROUTE.format(1), body=BODY, headers=HEADERS)
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


def first_answer(name: str, argv: Sequence[str], port: int, log_dir: Path, pin: bool) -> float:
    """Seconds from spawning `argv` until it first answers the bench POST with 201."""
    server = procs.start(name, argv, log_dir, pin=pin)
    try:
        deadline = server.started_at + 30
        while time.perf_counter() < deadline:
            if _post_once(port) == 201:
                return time.perf_counter() - server.started_at
            if not server.alive():
                raise RuntimeError(f"{name} exited: {server.log_tail()}")
            time.sleep(0.002)
        raise RuntimeError(f"{name}: no 201 within 30 s: {server.log_tail()}")
    finally:
        server.stop()


def startup(
    name: str, argv: Sequence[str], port: int, log_dir: Path, pin: bool, repeat: int
) -> Timing:
    """`first_answer`, `repeat` times."""
    return Timing([first_answer(name, argv, port, log_dir, pin) for _ in range(repeat)])


@dataclass
class LoadTime:
    """Time until a replay server with a cassette is ready, and its memory then."""

    ready: Timing
    rss_kb: int

    def as_dict(self) -> dict[str, Any]:
        """Plain data, for results.json."""
        return {**self.ready.as_dict(), "rss_kb": self.rss_kb}


def cassette_load(
    name: str, argv: Sequence[str], port: int, log_dir: Path, pin: bool, repeat: int
) -> LoadTime:
    """Spawn `argv` (a replay server) `repeat` times; time until its health answers 200."""
    timing, rss = Timing(), 0
    for _ in range(repeat):
        server = procs.start(name, argv, log_dir, pin=pin)
        try:
            timing.samples.append(
                procs.wait_ready(server, port, f"http://127.0.0.1:{port}/__proxy/health", 60)
            )
            time.sleep(0.2)  # let the allocator settle before reading RSS
            rss = procs.tree_rss_kb(server.pid)
        finally:
            server.stop()
    return LoadTime(timing, rss)


@dataclass
class Tenths:
    """A fixed-count recording run: req/s of each tenth, and what reached the cassette."""

    total: int
    concurrency: int
    rps: list[float]
    statuses: dict[int, int]
    errors: int
    recorded: int  # interactions in the cassette file after the server stopped
    rss_kb: int

    @property
    def last_over_first(self) -> float:
        """Speed of the last tenth relative to the first."""
        return self.rps[-1] / self.rps[0] if self.rps and self.rps[0] else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain data, for results.json."""
        return {
            "total": self.total,
            "concurrency": self.concurrency,
            "rps_per_tenth": self.rps,
            "last_over_first": self.last_over_first,
            "statuses": self.statuses,
            "errors": self.errors,
            "recorded": self.recorded,
            "rss_kb": self.rss_kb,
        }


async def _fixed_count(port: int, total: int, conc: int) -> tuple[list[float], dict[int, int], int]:
    """POST `total` requests (product ids 1..total) from `conc` workers.

    Returns the start time followed by each completion time, the statuses and the errors.
    """
    import aiohttp

    done: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    next_id = iter(range(1, total + 1))
    base = f"http://127.0.0.1:{port}"
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=conc), timeout=timeout
    ) as session:

        async def worker() -> None:
            nonlocal errors
            for product in next_id:
                try:
                    async with session.post(
                        base + ROUTE.format(product), data=BODY, headers=HEADERS
                    ) as response:
                        await response.read()
                        statuses[response.status] = statuses.get(response.status, 0) + 1
                except (aiohttp.ClientError, TimeoutError, OSError):
                    errors += 1
                done.append(time.perf_counter())

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conc)))
    return [start, *done], statuses, errors


def _per_tenth(times: list[float]) -> list[float]:
    start, done = times[0], sorted(times[1:])
    size = len(done) // 10
    edges = [start] + [done[(k + 1) * size - 1] for k in range(10)]
    return [size / (edges[k + 1] - edges[k]) for k in range(10)]


def count_items(path: Path) -> int:
    """Interactions in a cassette file of the gateway's layout (items start with '- ')."""
    with path.open("rb") as f:
        return sum(1 for line in f if line.startswith(b"- "))


def record_tenths(
    argv: Sequence[str], port: int, cassette: Path, log_dir: Path, pin: bool, total: int
) -> Tenths:
    """Run a fresh `record` server through `total` distinct requests at concurrency 32."""
    server = procs.start("record-tenths", argv, log_dir, pin=pin)
    try:
        procs.wait_ready(server, port, f"http://127.0.0.1:{port}/__proxy/health", 30)
        times, statuses, errors = asyncio.run(_fixed_count(port, total, 32))
        rss = procs.tree_rss_kb(server.pid)
    finally:
        server.stop(timeout=30)
    recorded = count_items(cassette) if cassette.exists() else 0
    return Tenths(total, 32, _per_tenth(times), statuses, errors, recorded, rss)
