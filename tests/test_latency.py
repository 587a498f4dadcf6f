"""Simulated latency (`--latency`, `Prefer: delay=`; `proxy/sources/latency.py`) over HTTP.

Only loose lower bounds are asserted: a shared CI machine may be slow, never early.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import orjson
import pytest

from proxy.cli import main
from proxy.settings import Settings, SettingsError, check
from tests.conftest import TOKEN_HEADERS, GatewayFactory, Running

BODY = b'{"ID": 11}'


async def timed_post(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str] = TOKEN_HEADERS
) -> tuple[int, str, bytes, float]:
    started = time.perf_counter()
    async with session.post(url, data=BODY, headers=headers) as response:
        body = await response.read()
        source = response.headers["X-Portal-Proxy-Source"]
        return response.status, source, body, time.perf_counter() - started


async def test_prefer_delay_holds_back_one_answer_and_not_the_others(
    mock_gateway: Running, session: aiohttp.ClientSession
) -> None:
    slow = asyncio.create_task(
        timed_post(session, mock_gateway.route(1), {**TOKEN_HEADERS, "Prefer": "delay=400"})
    )
    await asyncio.sleep(0.05)  # the slow request is in the gateway, asleep
    status, source, _, _ = await timed_post(session, mock_gateway.route(2))
    assert (status, source) == (201, "mock")
    assert not slow.done(), "a delayed request held up another one"
    status, source, _, elapsed = await slow
    assert (status, source) == (201, "mock")
    assert elapsed >= 0.4


async def test_latency_delays_every_mock_answer_and_prefer_replaces_it(
    gateway_factory: GatewayFactory, session: aiohttp.ClientSession
) -> None:
    gw = await gateway_factory("mock", latency=(200, 300))
    status, _, _, elapsed = await timed_post(session, gw.route(1))
    assert status == 201
    assert elapsed >= 0.2
    # The mock's refusal is the portal's answer too: delayed.
    status, source, _, elapsed = await timed_post(session, gw.route(1), {"Prefer": "delay=250"})
    assert (status, source) == (401, "mock")
    assert elapsed >= 0.25
    # `Prefer: delay=0` replaces --latency for that request (no upper bound is asserted).
    status, _, _, _ = await timed_post(session, gw.route(1), {**TOKEN_HEADERS, "Prefer": "delay=0"})
    assert status == 201


async def test_the_gateways_own_errors_are_not_delayed(
    gateway_factory: GatewayFactory, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    folder = tmp_path / "cassettes"
    folder.mkdir()
    (folder / "empty.yaml").write_text("interactions: []\nversion: 1\n")
    gw = await gateway_factory("replay", cassette_dir=folder, latency=(5000, 5000))
    # A miss, answered at once though --latency is 5 s (the test would take 5 s otherwise).
    status, source, _, _ = await asyncio.wait_for(timed_post(session, gw.route(1)), 2.0)
    assert (status, source) == (404, "gateway")
    # A preflight neither.
    preflight = {"Origin": "http://127.0.0.1:8080", "Access-Control-Request-Method": "POST"}
    async with asyncio.timeout(2.0):
        async with session.options(gw.route(1), headers=preflight) as response:
            assert response.status == 204


async def test_replay_hits_are_delayed(
    gateway_factory: GatewayFactory, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    folder = tmp_path / "cassettes"
    folder.mkdir()
    (folder / "one.yaml").write_bytes(
        orjson.dumps(
            {
                "version": 1,
                "interactions": [
                    {
                        "request": {
                            "method": "POST",
                            "uri": "http://portal/portal-api/products/1/client_types",
                            "body": BODY.decode(),
                            "headers": {},
                        },
                        "response": {
                            "status": {"code": 201, "message": "Created"},
                            "headers": {"Content-Type": ["application/json"]},
                            "body": {"string": '{"ID": 11}'},
                        },
                    }
                ],
            }
        )
    )
    gw = await gateway_factory("replay", cassette_dir=folder)
    headers = {**TOKEN_HEADERS, "Prefer": "delay=200"}
    status, source, body, elapsed = await timed_post(session, gw.route(1), headers)
    assert (status, source, body) == (201, "cassette", b'{"ID": 11}')
    assert elapsed >= 0.2


@pytest.mark.parametrize("value", ["soon", "-5", "60001", "1.5"])
async def test_a_bad_prefer_delay_is_a_400_naming_it(
    mock_gateway: Running, session: aiohttp.ClientSession, value: str
) -> None:
    headers = {**TOKEN_HEADERS, "Prefer": f"delay={value}"}
    async with session.post(mock_gateway.route(1), data=BODY, headers=headers) as response:
        assert response.status == 400
        assert response.headers["Content-Type"] == "application/problem+json"
        problem = await response.json(content_type=None)
    assert problem["type"] == "urn:portal-proxy:problem:bad-request"
    assert f"delay={value}" in problem["detail"]


@pytest.mark.parametrize(
    "args",
    [
        ["mock", "--latency", "300-100"],
        ["mock", "--latency", "fast"],
        ["replay", "--latency", "-1"],
    ],
    ids=["min-above-max", "not-a-number", "negative"],
)
def test_a_bad_latency_exits_2_naming_the_option(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    assert "--latency" in capsys.readouterr().err


def test_latency_is_an_option_of_mock_and_replay_only(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["proxy", "--upstream", "http://127.0.0.1:9", "--latency", "100"])
    assert exited.value.code == 2
    assert "--latency" in capsys.readouterr().err
    with pytest.raises(SettingsError, match="--latency"):
        check(Settings(latency=(300, 100)))
