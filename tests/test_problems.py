"""`proxy.problems`: the gateway's own errors are RFC 9457 problem+json, one type per kind."""

from __future__ import annotations

import aiohttp
import pytest

from tests.conftest import (
    Running,
)


@pytest.mark.parametrize(
    ("method", "path", "status", "kind"),
    [
        ("POST", "/products/1/client_types", 404, "unknown-route"),
        ("POST", "/portal-api/products/1/client_type", 404, "unknown-route"),
        ("GET", "/", 404, "unknown-route"),
        ("GET", "/portal-api/products/1/client_types", 405, "method-not-allowed"),
        ("DELETE", "/portal-api/products/1/client_types", 405, "method-not-allowed"),
        ("PUT", "/portal-api/products/1/client_types", 405, "method-not-allowed"),
    ],
)
async def test_gateway_errors_are_problem_json(
    mock_gateway: Running,
    session: aiohttp.ClientSession,
    method: str,
    path: str,
    status: int,
    kind: str,
) -> None:
    async with session.request(method, mock_gateway.url + path) as response:
        assert response.status == status
        assert response.content_type == "application/problem+json"
        assert response.headers["X-Portal-Proxy-Source"] == "gateway"
        body = await response.json()
        if status == 405:
            assert response.headers["Allow"] == "POST"
    assert body["type"].endswith(kind)
    assert body["status"] == status
    assert method in body["detail"]


async def test_problem_types_are_distinct_per_kind(
    mock_gateway: Running, session: aiohttp.ClientSession
) -> None:
    async with session.get(mock_gateway.url + "/nope") as unknown:
        first = (await unknown.json())["type"]
    async with session.get(mock_gateway.route(1)) as wrong_method:
        second = (await wrong_method.json())["type"]
    assert first != second
