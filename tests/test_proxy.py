"""`proxy` mode: traffic flows on unharmed while every response is checked against the spec."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
from typing import Any

import aiohttp
import orjson
import pytest

from proxy.standin import Scripted
from tests.conftest import FULL_SPEC, ROUTE, GatewayFactory, StandinServer, parametrize_table

AUTH = {"Authorization": "proxy-token", "Content-Type": "application/json"}
JSON = [("Content-Type", "application/json")]
GOOD = {
    "Name": "foo",
    "ID": 11,
    "Description": "Web application",
    "GrantType": "pkce",
    "OktaAppType": "web",
    "CreatedAt": "2023-06-23 21:02",
    "UpdatedAt": "2023-06-23 21:02",
}


def body(**changes: Any) -> bytes:
    document = {**GOOD, **changes}
    return orjson.dumps({k: v for k, v in document.items() if v is not ...})


# (case, status, headers, raw body, expected violations as (location, code, severity))
RESPONSES: list[tuple[str, int, list[tuple[str, str]], bytes, list[tuple[list[Any], Any, str]]]] = [
    ("valid", 201, JSON, body(), []),
    ("extra field", 201, JSON, body(Extra="x"), []),
    ("all optional fields omitted", 201, JSON, b"{}", []),
    ("only ID", 201, JSON, b'{"ID": 3}', []),
    ("charset parameter", 201, [("Content-Type", "application/json; charset=utf-8")], body(), []),
    ("each GrantType", 201, JSON, body(GrantType="refresh_token"), []),
    ("each OktaAppType", 201, JSON, body(OktaAppType="service"), []),
    (
        "GrantType bogus",
        201,
        JSON,
        body(GrantType="bogus"),
        [(["response", "body", "GrantType"], "enum", "Error")],
    ),
    (
        "GrantType wrong case",
        201,
        JSON,
        body(GrantType="PKCE"),
        [(["response", "body", "GrantType"], "enum", "Error")],
    ),
    (
        "OktaAppType bogus",
        201,
        JSON,
        body(OktaAppType="spa"),
        [(["response", "body", "OktaAppType"], "enum", "Error")],
    ),
    (
        "CreatedAt with seconds",
        201,
        JSON,
        body(CreatedAt="2023-06-23 21:02:00"),
        [(["response", "body", "CreatedAt"], "pattern", "Error")],
    ),
    (
        "CreatedAt RFC 3339",
        201,
        JSON,
        body(CreatedAt="2023-06-23T21:02:00Z"),
        [(["response", "body", "CreatedAt"], "pattern", "Error")],
    ),
    (
        "CreatedAt date only",
        201,
        JSON,
        body(CreatedAt="2023-06-23"),
        [(["response", "body", "CreatedAt"], "pattern", "Error")],
    ),
    (
        "CreatedAt trailing newline",
        201,
        JSON,
        body(CreatedAt="2023-06-23 21:02\n"),
        [(["response", "body", "CreatedAt"], "pattern", "Error")],
    ),
    (
        "CreatedAt non-ASCII digits",
        201,
        JSON,
        body(CreatedAt="\u0662023-06-23 21:02"),
        [(["response", "body", "CreatedAt"], "pattern", "Error")],
    ),
    (
        "UpdatedAt epoch number",
        201,
        JSON,
        body(UpdatedAt=1687554120),
        [(["response", "body", "UpdatedAt"], "type", "Error")],
    ),
    ("ID as string", 201, JSON, body(ID="11"), [(["response", "body", "ID"], "type", "Error")]),
    ("ID null", 201, JSON, body(ID=None), [(["response", "body", "ID"], "type", "Error")]),
    ("Name null", 201, JSON, body(Name=None), [(["response", "body", "Name"], "type", "Error")]),
    ("Name number", 201, JSON, body(Name=5), [(["response", "body", "Name"], "type", "Error")]),
    ("body is an array", 201, JSON, b"[]", [(["response", "body"], "type", "Error")]),
    ("body is null", 201, JSON, b"null", [(["response", "body"], "type", "Error")]),
    (
        "two wrong fields",
        201,
        JSON,
        body(GrantType="x", ID="y"),
        [
            (["response", "body", "ID"], "type", "Error"),
            (["response", "body", "GrantType"], "enum", "Error"),
        ],
    ),
    (
        "missing Content-Type",
        201,
        [],
        body(),
        [(["response", "header", "Content-Type"], 415, "Error")],
    ),
    (
        "text/html body",
        201,
        [("Content-Type", "text/html")],
        b"<h1>oops</h1>",
        [(["response", "header", "Content-Type"], 415, "Error")],
    ),
    ("not JSON", 201, JSON, b"<html>", [(["response", "body"], "contentMediaType", "Error")]),
    ("empty body", 201, JSON, b"", [(["response", "body"], "required", "Error")]),
    ("undocumented 200", 200, JSON, body(), [(["response"], 200, "Error")]),
    ("undocumented 204", 204, [], b"", [(["response"], 204, "Error")]),
    ("undocumented 500", 500, JSON, b'{"errors": ["boom"]}', [(["response"], 500, "Warning")]),
    (
        "undocumented 503 with Retry-After",
        503,
        [("Retry-After", "5")],
        b"",
        [(["response"], 503, "Warning")],
    ),
    (
        "undocumented 404",
        404,
        JSON,
        b'{"errors": ["Product not found"]}',
        [(["response"], 404, "Warning")],
    ),
    ("valid 422", 422, JSON, b'{"errors": ["Invalid payload"]}', []),
    (
        "422 with errors as a string",
        422,
        JSON,
        b'{"errors": "bad"}',
        [(["response", "body", "errors"], "type", "Error")],
    ),
    (
        "422 with a non-string error",
        422,
        JSON,
        b'{"errors": [1]}',
        [(["response", "body", "errors", 0], "type", "Error")],
    ),
    ("gzip valid", 201, [*JSON, ("Content-Encoding", "gzip")], gzip.compress(body()), []),
    (
        "gzip invalid",
        201,
        [*JSON, ("Content-Encoding", "gzip")],
        gzip.compress(body(GrantType="nope")),
        [(["response", "body", "GrantType"], "enum", "Error")],
    ),
]


@parametrize_table(("status", "headers", "raw", "expected"), RESPONSES)
async def test_upstream_response_table(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
    status: int,
    headers: list[tuple[str, str]],
    raw: bytes,
    expected: list[tuple[list[Any], Any, str]],
) -> None:
    standin.standin.script.append(Scripted(status, raw, headers))
    gw = await gateway_factory("proxy", upstream=standin.url)
    async with session.post(gw.route(1), json={"ID": 11}, headers=AUTH) as response:
        got = await response.read()
        # Passed through unharmed: same status, same bytes, no invented Content-Type.
        assert response.status == status
        assert got == raw
        assert response.headers.get("Content-Type") == dict(headers).get("Content-Type")
        assert response.headers["X-Portal-Proxy-Source"] == "upstream"
        found = json.loads(response.headers.get("sl-violations", "[]"))
    assert [(v["location"], v["code"], v["severity"]) for v in found] == expected
    for item in found:
        assert item["message"]


def raw_exchange(host: str, port: int, request: bytes) -> bytes:
    """Send raw bytes, read until the server closes."""
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


async def test_proxied_bytes_are_identical_both_ways(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
) -> None:
    """Raw sockets on both sides: what the client sends is what the upstream receives (less
    hop-by-hop headers and Host), and the upstream's status, headers and body come back."""
    upstream_headers = [
        ("Content-Type", "application/json"),
        ("X-Odd-Case", "Value  with  spaces"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("Server", "portal/1.0"),
    ]
    standin.standin.script.append(Scripted(201, body(), upstream_headers))
    gw = await gateway_factory("proxy", upstream=standin.url)
    payload = b'{ "ID" : 11 ,"x":"\xc3\xa9"}'
    request = (
        b"POST " + ROUTE.format(1).encode() + b"?a=1&b=%20 HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\nAuthorization: raw-token\r\nContent-Type: application/json\r\n"
        b"X-Custom: keep me\r\nConnection: close\r\nContent-Length: "
        + str(len(payload)).encode()
        + b"\r\n\r\n"
        + payload
    )
    host, port = gw.address()
    # Blocking socket I/O in a thread: the gateway and the upstream run on this loop.
    answer = await asyncio.to_thread(raw_exchange, host, port, request)
    head, _, got_body = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 201 Created"
    got_headers = [tuple(line.split(": ", 1)) for line in lines[1:]]
    for pair in upstream_headers:
        assert pair in got_headers
    names = [name.lower() for name, _ in got_headers]
    assert names.count("content-type") == 1
    assert got_body == body()
    received = standin.standin.received[0]
    assert received.body == payload
    assert received.path_qs == ROUTE.format(1) + "?a=1&b=%20"
    sent = dict(received.headers)
    assert sent["Authorization"] == "raw-token"
    assert sent["X-Custom"] == "keep me"
    assert "Connection" not in sent or sent["Connection"] != "close"


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


async def test_refused_upstream_is_a_502_naming_it(
    gateway_factory: GatewayFactory,
    session: aiohttp.ClientSession,
) -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    upstream = f"http://127.0.0.1:{port}"
    gw = await gateway_factory("proxy", upstream=upstream)
    async with session.post(gw.route(1), json={"ID": 1}, headers=AUTH) as response:
        assert response.status == 502
        assert response.headers["X-Portal-Proxy-Source"] == "gateway"
        problem = await response.json()
    assert problem["type"].endswith("upstream-unreachable")
    assert upstream in problem["detail"]


async def test_slow_upstream_is_a_504_naming_it(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
) -> None:
    standin.standin.script.append(Scripted(201, body(), JSON, delay=3.0))
    gw = await gateway_factory("proxy", upstream=standin.url, upstream_timeout=0.3)
    async with session.post(gw.route(1), json={"ID": 1}, headers=AUTH) as response:
        assert response.status == 504
        problem = await response.json()
    assert problem["type"].endswith("upstream-timeout")
    assert standin.url in problem["detail"]


@pytest.mark.skipif(not FULL_SPEC.exists(), reason="Tyk's full portal spec is not in ../shared")
async def test_full_spec_operations_are_validated_and_unknown_paths_warned(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
) -> None:
    standin.standin.script.append(Scripted(200, b'{"ID": "seven", "Email": "a@b.c"}', JSON))
    standin.standin.script.append(Scripted(200, b"{}", JSON))
    gw = await gateway_factory("proxy", upstream=standin.url, spec=FULL_SPEC)
    async with session.get(gw.url + "/portal-api/users/7", headers=AUTH) as response:
        assert response.status == 200
        found = json.loads(response.headers["sl-violations"])
    assert [(v["location"], v["code"]) for v in found] == [(["response", "body", "ID"], "type")]
    async with session.get(gw.url + "/portal-api/not-in-spec", headers=AUTH) as response:
        assert response.status == 200
        found = json.loads(response.headers["sl-violations"])
    assert [(v["location"], v["severity"]) for v in found] == [(["request"], "Warning")]
    assert [r.path_qs for r in standin.standin.received] == [
        "/portal-api/users/7",
        "/portal-api/not-in-spec",
    ]


async def test_sinks_see_every_violating_exchange(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
) -> None:
    standin.standin.invalid = True
    gw = await gateway_factory("proxy", upstream=standin.url)
    for _ in range(3):
        async with session.post(gw.route(1), json={"ID": 1}, headers=AUTH) as response:
            assert response.status == 201
    async with session.get(gw.url + "/__proxy/violations") as response:
        recent = (await response.json())["violations"]
    assert len(recent) == 3
    assert recent[0]["operation_id"] == "create-product-client-type"
    async with session.get(gw.url + "/__proxy/violations?operation=other-operation") as response:
        assert (await response.json())["violations"] == []
    async with session.get(gw.url + "/__proxy/metrics") as response:
        metrics = await response.text()
    assert (
        'portal_proxy_violations_total{code="enum",location="response",'
        'operation="create-product-client-type",severity="Error"} 3.0'
    ) in metrics
    assert "portal_proxy_upstream_latency_seconds_count" in metrics


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
