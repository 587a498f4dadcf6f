"""`proxy.upstream`: forwarding to the portal unharmed, its base path and Host, and the 502 /
504 a client gets when it is down or slow (wire-level faults: `test_upstream_faults.py`).
"""

from __future__ import annotations

import asyncio
import socket

import aiohttp

from proxy.standin import Scripted
from tests.conftest import (
    ROUTE,
    TOKEN_HEADERS,
    GatewayFactory,
    StandinServer,
)
from tests.payloads import JSON_CT, body
from tests.recording import (
    AUTH,
    post,
)


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


async def test_refused_upstream_is_a_502_naming_it(
    gateway_factory: GatewayFactory,
    session: aiohttp.ClientSession,
) -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    upstream = f"http://127.0.0.1:{port}"
    gw = await gateway_factory("proxy", upstream=upstream)
    async with session.post(gw.route(1), json={"ID": 1}, headers=TOKEN_HEADERS) as response:
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
    standin.standin.script.append(Scripted(201, body(), JSON_CT, delay=1.5))
    gw = await gateway_factory("proxy", upstream=standin.url, upstream_timeout=0.3)
    async with session.post(gw.route(1), json={"ID": 1}, headers=TOKEN_HEADERS) as response:
        assert response.status == 504
        problem = await response.json()
    assert problem["type"].endswith("upstream-timeout")
    assert standin.url in problem["detail"]


async def test_upstream_with_base_path_is_not_doubled(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
) -> None:
    gw = await gateway_factory("proxy", upstream=standin.url + "/portal-api/")
    status, _, _ = await post(session, gw.route(4))
    assert status == 201
    assert standin.standin.received[0].path_qs == ROUTE.format(4)


async def test_host_header_cannot_send_traffic_elsewhere(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
) -> None:
    gw = await gateway_factory("proxy", upstream=standin.url)
    headers = {**AUTH, "Host": "evil.example:80"}
    status, _, _ = await post(session, gw.route(4), headers=headers)
    assert status == 201
    received = dict(standin.standin.received[0].headers)
    assert received["Host"] == standin.url.split("://", 1)[1]
