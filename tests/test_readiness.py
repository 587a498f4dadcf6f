"""`GET /__proxy/ready`: 503 with the reason while the upstream fails, 200 otherwise; a real
stand-in stopped and started again on the same port, with a short probe interval."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from proxy.readiness import Readiness
from proxy.standin import Standin
from tests.conftest import TOKEN_HEADERS, GatewayFactory, Running


class Restartable:
    """The stand-in portal on a fixed port, which a test can stop and start again."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.standin = Standin()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self.standin.app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@pytest.fixture
async def portal() -> AsyncIterator[Restartable]:
    server = Restartable()
    await server.start()
    yield server
    await server.stop()


async def ready(session: aiohttp.ClientSession, gw: Running) -> tuple[int, dict[str, Any]]:
    async with session.get(gw.url + "/__proxy/ready") as response:
        return response.status, await response.json(content_type=None)


async def wait_for(
    session: aiohttp.ClientSession, gw: Running, status: int, within: float
) -> tuple[float, dict[str, Any]]:
    """Poll until /__proxy/ready answers `status`; how long it took, and the body."""
    started = time.monotonic()
    while True:
        got, body = await ready(session, gw)
        elapsed = time.monotonic() - started
        if got == status:
            return elapsed, body
        assert elapsed < within, f"still {got} after {elapsed:.1f} s: {body}"
        await asyncio.sleep(0.05)


async def test_ready_follows_the_upstream_down_and_back_without_traffic(
    gateway_factory: GatewayFactory, portal: Restartable, session: aiohttp.ClientSession
) -> None:
    gw = await gateway_factory(
        "proxy", upstream=portal.url, ready_interval=0.2, admin_token="admin-secret"
    )
    status, body = await ready(session, gw)  # no admin token needed, like health
    assert status == 200
    assert body["status"] == "ready"
    assert body["upstream"] == portal.url

    await portal.stop()
    _, problem = await wait_for(session, gw, 503, within=3.0)
    assert problem["type"] == "urn:portal-proxy:problem:not-ready"
    assert portal.url in problem["detail"]
    assert problem["upstream"] == portal.url
    assert problem["since"] <= time.time()

    await portal.start()
    await wait_for(session, gw, 200, within=3.0)
    # The probe never reached the portal's handlers: it only connects.
    assert portal.standin.received == []


async def test_a_failed_request_makes_it_unready_at_once_and_a_good_one_ready(
    gateway_factory: GatewayFactory, portal: Restartable, session: aiohttp.ClientSession
) -> None:
    gw = await gateway_factory("proxy", upstream=portal.url, ready_interval=60.0)
    await portal.stop()
    async with session.post(gw.route(1), json={"ID": 1}, headers=TOKEN_HEADERS) as failed:
        assert failed.status == 502
    status, problem = await ready(session, gw)
    assert status == 503
    assert "could not be reached" in problem["detail"]

    await portal.start()
    async with session.post(gw.route(1), json={"ID": 1}, headers=TOKEN_HEADERS) as good:
        assert good.status == 201
    assert (await ready(session, gw))[0] == 200


@pytest.mark.parametrize("mode", ["mock", "replay"])
async def test_mock_and_replay_are_ready_once_loaded(
    gateway_factory: GatewayFactory,
    portal: Restartable,
    session: aiohttp.ClientSession,
    mode: str,
) -> None:
    if mode == "replay":
        recorder = await gateway_factory("record", upstream=portal.url, cassette="r")
        async with session.post(recorder.route(1), json={"ID": 1}, headers=TOKEN_HEADERS):
            pass
        await recorder.runner.cleanup()
    gw = await gateway_factory(mode, admin_token="admin-secret")
    status, body = await ready(session, gw)
    assert status == 200
    assert body == {"status": "ready", "mode": mode, "upstream": None, "checked": None}


async def test_the_probe_runs_only_when_traffic_is_silent() -> None:
    probes: list[float] = []

    async def probe() -> None:
        probes.append(time.monotonic())

    watch = Readiness(probe, interval=0.1)
    await watch.start()
    try:
        for _ in range(6):  # traffic every 0.05 s: it answers for the upstream
            watch.note_success()
            await asyncio.sleep(0.05)
        assert probes == []
        await asyncio.sleep(0.25)  # silence: probed
        assert probes
    finally:
        await watch.close()


@pytest.mark.parametrize("interval", [0, -1.0])
def test_the_interval_must_be_positive(interval: float) -> None:
    probe: Callable[[], Any] | None = None
    with pytest.raises(ValueError, match="interval"):
        Readiness(probe, interval)
