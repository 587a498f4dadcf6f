"""`proxy.admin`: the `/__proxy/*` endpoints, their token, and that they are never forwarded."""

from __future__ import annotations

import aiohttp

from tests.conftest import (
    GatewayFactory,
    Running,
    StandinServer,
)


async def test_health(mock_gateway: Running, session: aiohttp.ClientSession) -> None:
    async with session.get(mock_gateway.url + "/__proxy/health") as response:
        assert response.status == 200
        body = await response.json()
    assert body["status"] == "ok"
    assert body["mode"] == "mock"


async def test_admin_token_guards_all_but_health(
    gateway_factory: GatewayFactory,
    session: aiohttp.ClientSession,
) -> None:
    gw = await gateway_factory("mock", admin_token="admin-secret")
    async with session.get(gw.url + "/__proxy/health") as response:
        assert response.status == 200
    for endpoint in ("violations", "metrics", "cassettes"):
        async with session.get(f"{gw.url}/__proxy/{endpoint}") as response:
            assert response.status == 401
            assert response.content_type == "application/problem+json"
        async with session.get(
            f"{gw.url}/__proxy/{endpoint}", headers={"Authorization": "Bearer admin-secret"}
        ) as response:
            assert response.status == 200


async def test_admin_endpoints_answer_get_and_head_only_and_are_never_forwarded(
    gateway_factory: GatewayFactory,
    session: aiohttp.ClientSession,
    standin: StandinServer,
) -> None:
    gw = await gateway_factory("proxy", upstream=standin.url)
    async with session.head(gw.url + "/__proxy/health") as response:
        assert response.status == 200
    async with session.post(gw.url + "/__proxy/health", data=b"{}") as response:
        assert response.status == 405
        assert response.headers["Allow"] == "GET, HEAD"
        assert response.content_type == "application/problem+json"
    async with session.get(gw.url + "/__proxy/nothing-here") as response:
        assert response.status == 404
        assert "/__proxy/health" in (await response.json())["detail"]
    assert standin.standin.received == []
