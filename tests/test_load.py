"""Load and crashes, with the gateway and the stand-in portal as real processes.

Marked `slow` (under two minutes in all, most of it the 20 kills); CI runs them. They prove
that nothing is lost under concurrency and across kills; throughput and memory-per-request
figures are `bench/run.py`'s job, not the tests'.
"""

from __future__ import annotations

import asyncio
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest
import vcr

from proxy.storage import load_cassette
from tests.cli_process import command, record_command, running
from tests.conftest import ROUTE

pytestmark = pytest.mark.slow

#: Enough requests to keep all CONCURRENCY connections busy for many rounds (30 each), so
#: interleaved appends to the cassette happen thousands of times; more proves nothing more.
TOTAL = 3_000
CONCURRENCY = 100
#: The replay test's recording: replay then rotates over these and 404s the rest.
RECORDED = 1_000
#: Clients hammering the recorder between kills. Every cycle reloads the whole cassette (the
#: recorder on start-up, the check after the kill), so its size sets this test's cost; 8
#: clients still keep several appends in flight at every kill.
LOADERS = 8
HEADERS = {"Authorization": "load-token", "Content-Type": "application/json"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def upstream() -> Iterator[str]:
    """The stand-in portal in its own process (so the client's loop is not its loop)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "proxy.standin", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def drive(url: str, total: int, concurrency: int, distinct: bool = True) -> dict[int, int]:
    """Send `total` requests at `concurrency`; count statuses (-1: connection errors)."""
    counts: dict[int, int] = {}
    numbers = iter(range(total))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as client:

        async def worker() -> None:
            for n in numbers:
                product = n if distinct else 1
                body = orjson.dumps({"ID": n if distinct else 11})
                try:
                    async with client.post(
                        url + ROUTE.format(product), data=body, headers=HEADERS
                    ) as response:
                        await response.read()
                        counts[response.status] = counts.get(response.status, 0) + 1
                except aiohttp.ClientError:
                    counts[-1] = counts.get(-1, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return counts


async def test_record_thousands_of_concurrent_distinct_requests_loses_none(
    upstream: str, tmp_path: Path
) -> None:
    path = tmp_path / "cassettes" / "load.yaml"
    args = record_command(upstream, tmp_path / "cassettes", "load", "--record-mode", "all")
    with running(args, cwd=tmp_path) as proc:
        idle = rss_kib(proc.popen.pid)
        counts = await drive(proc.url, TOTAL, CONCURRENCY)
        loaded = rss_kib(proc.popen.pid)
        assert proc.stop() == 0
    assert counts == {201: TOTAL}
    with vcr.use_cassette(str(path), record_mode="none") as cassette:
        assert len(cassette) == TOTAL
        in_vcrpy = products(request.uri for request in cassette.requests)
    assert in_vcrpy == set(range(TOTAL))
    # Memory: the recorder keeps what it recorded indexed (new_episodes replays it), so it
    # grows with the cassette, but by well under 7.5 KiB per interaction (150 MiB per 20,000).
    assert loaded - idle < TOTAL * 15 // 2, (idle, loaded)


async def test_replay_and_proxy_under_load_have_zero_errors(upstream: str, tmp_path: Path) -> None:
    folder = tmp_path / "cassettes"
    record_args = record_command(upstream, folder, "replay-load", "--record-mode", "all")
    with running(record_args, cwd=tmp_path) as proc:
        assert await drive(proc.url, RECORDED, CONCURRENCY) == {201: RECORDED}
        assert proc.stop() == 0
    for args in (
        command(
            "replay", "--port", "0", "--cassette", "replay-load", "--cassette-dir", str(folder)
        ),
        command("proxy", "--port", "0", "--upstream", upstream),
    ):
        with running(args, cwd=tmp_path) as proc:
            # Replay rotates over the recorded requests; the proxy takes distinct ones.
            counts = await drive(proc.url, TOTAL, CONCURRENCY)
            assert proc.stop() == 0
        expected = {201: RECORDED, 404: TOTAL - RECORDED} if proc.mode == "replay" else {201: TOTAL}
        assert counts == expected, (proc.mode, counts)


async def _load_until_killed(url: str, received: list[tuple[float, int]]) -> None:
    async with aiohttp.ClientSession() as client:
        while True:
            n = random.randrange(10**12)
            try:
                async with client.post(
                    url + ROUTE.format(n), data=orjson.dumps({"ID": 1}), headers=HEADERS
                ) as response:
                    await response.read()
                    if response.status == 201:
                        received.append((time.monotonic(), n))
            except aiohttp.ClientError:
                return


def products(uris: Iterable[str]) -> set[int]:
    return {int(uri.split("/products/", 1)[1].split("/", 1)[0]) for uri in uris}


def recorded(path: Path) -> set[int]:
    """What our own loader (the one `replay` and the next `record` use) finds on disk."""
    if not path.exists():
        return set()
    return products(interaction.request.uri for interaction in load_cassette(path))


async def test_sigkill_at_20_random_moments(upstream: str, tmp_path: Path) -> None:
    """After each kill the cassette loads, and every interaction whose response reached the
    client more than a second before the kill is in it. The same cassette is reopened each
    time (new_episodes), so a torn tail from one kill must not break the next. Each cycle is
    checked with our loader; VCR.py loads the final file (torn tail and all) once at the end:
    that every cut of an append leaves a file VCR.py loads is `test_storage`'s exhaustive
    `test_an_append_cut_anywhere_leaves_a_file_vcrpy_loads`."""
    folder = tmp_path / "cassettes"
    path = folder / "crash.yaml"
    rng = random.Random(20)
    confirmed: set[int] = set()
    args = record_command(upstream, folder, "crash", "--record-mode", "new_episodes")
    for _ in range(20):
        received: list[tuple[float, int]] = []
        with running(args, cwd=tmp_path) as proc:
            loaders = [
                asyncio.create_task(_load_until_killed(proc.url, received)) for _ in range(LOADERS)
            ]
            await asyncio.sleep(1.1 + rng.random() * 1.4)
            killed_at = time.monotonic()
            proc.popen.kill()
            proc.popen.wait(timeout=10)
            await asyncio.gather(*loaders)
        confirmed |= {n for at, n in received if at < killed_at - 1.0}
        on_disk = recorded(path)
        assert confirmed <= on_disk, len(confirmed - on_disk)
    with vcr.use_cassette(str(path), record_mode="none") as cassette:
        in_vcrpy = products(request.uri for request in cassette.requests)
    assert confirmed <= in_vcrpy, len(confirmed - in_vcrpy)
    assert in_vcrpy == recorded(path)
