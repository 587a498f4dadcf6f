"""`proxy` mode: traffic flows on unharmed while every response is checked against the spec."""

from __future__ import annotations

import json

import aiohttp

from tests.conftest import GatewayFactory, StandinServer

AUTH = {"Authorization": "proxy-token", "Content-Type": "application/json"}
JSON = [("Content-Type", "application/json")]


async def test_strict_refuses_invalid_requests_without_forwarding(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
) -> None:
    gw = await gateway_factory("proxy", upstream=standin.url, strict=True)
    async with session.post(gw.route(1), json={"ID": "x"}, headers=AUTH) as response:
        assert response.status == 422
        assert "ID" in (await response.json())["errors"][0]
    async with session.post(gw.route(1), json={"ID": 1}) as response:
        assert response.status == 401
    assert standin.standin.received == []


async def test_strict_replaces_an_invalid_upstream_response_with_502(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
) -> None:
    standin.standin.invalid = True
    gw = await gateway_factory("proxy", upstream=standin.url, strict=True)
    async with session.post(gw.route(1), json={"ID": 1}, headers=AUTH) as response:
        assert response.status == 502
        assert response.content_type == "application/problem+json"
        problem = await response.json()
    assert problem["type"].endswith("invalid-upstream-response")
    assert {v["code"] for v in problem["violations"]} == {"enum", "pattern"}


async def test_without_strict_invalid_requests_are_forwarded_and_reported(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
) -> None:
    gw = await gateway_factory("proxy", upstream=standin.url)
    async with session.post(gw.route(1), json={"ID": 1}) as response:
        assert response.status == 401  # the upstream's own answer
        found = json.loads(response.headers["sl-violations"])
    # The request lacked credentials; the portal's 401 is not a documented status (Warning).
    assert [(v["location"], v["code"], v["severity"]) for v in found] == [
        (["request"], 401, "Error"),
        (["response"], 401, "Warning"),
    ]
    assert len(standin.standin.received) == 1
