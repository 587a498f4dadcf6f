"""Every gateway failure in the log: one line per cause with the cause and the upstream, at
most one a second per cause, then how many were suppressed."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from tests.cli_process import command, running
from tests.conftest import TOKEN_HEADERS, GatewayFactory

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def tcp_server() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> str:
        async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await handler(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.transport.abort()

        server = await asyncio.start_server(guarded, "127.0.0.1", 0)
        servers.append(server)
        return f"127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.close()


async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"\x00\x01 this is not http\r\n\r\n")
    await writer.drain()


async def not_tls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")  # plain HTTP where TLS was expected
    await writer.drain()


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(2)


def failure_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "portal_proxy.upstream" and hasattr(r, "cause")]


async def fire(session: aiohttp.ClientSession, url: str, count: int) -> list[int]:
    async def one() -> int:
        async with session.post(url, json={"ID": 1}, headers=TOKEN_HEADERS) as response:
            await response.read()
            return response.status

    return list(await asyncio.gather(*(one() for _ in range(count))))


@pytest.mark.parametrize(
    ("scheme", "handler", "cause", "words"),
    [
        ("http", None, "unreachable", "could not be reached"),
        ("http", silent, "timeout", "did not answer within"),
        ("https", not_tls, "tls", "TLS"),
        ("http", garbage, "malformed", "malformed response"),
    ],
    ids=["unreachable", "timeout", "tls", "malformed"],
)
async def test_each_cause_is_logged_with_the_upstream(
    gateway_factory: GatewayFactory,
    tcp_server: Callable[[Handler], Awaitable[str]],
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    scheme: str,
    handler: Handler | None,
    cause: str,
    words: str,
) -> None:
    where = await tcp_server(handler) if handler else f"127.0.0.1:{closed_port()}"
    upstream = f"{scheme}://{where}"
    gw = await gateway_factory("proxy", upstream=upstream, upstream_timeout=0.3)
    [status] = await fire(session, gw.route(1), 1)
    assert status in (502, 504)
    [line] = failure_lines(caplog)
    assert line.levelname == "ERROR"
    assert line.cause == cause  # type: ignore[attr-defined]
    assert line.upstream == upstream  # type: ignore[attr-defined]
    assert f"({cause})" in line.getMessage()
    assert upstream in line.getMessage()
    assert words in line.getMessage()


async def test_a_flood_is_one_line_a_second_then_the_suppressed_count(
    gateway_factory: GatewayFactory,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gw = await gateway_factory("proxy", upstream=f"http://127.0.0.1:{closed_port()}")
    statuses = await fire(session, gw.route(1), 25)
    assert statuses == [502] * 25
    assert len(failure_lines(caplog)) == 1  # the first, in full; the rest are counted
    await asyncio.sleep(1.2)  # the window ends: one line says how many were left out
    first, summary = failure_lines(caplog)
    assert summary.suppressed == 24  # type: ignore[attr-defined]
    assert "24 more upstream failures (unreachable) suppressed" in summary.getMessage()
    assert first.suppressed == 0  # type: ignore[attr-defined]


def test_json_log_lines_carry_cause_and_upstream_as_fields(tmp_path: Path) -> None:
    upstream = f"http://127.0.0.1:{closed_port()}"
    stderr = tmp_path / "stderr"
    args = command("proxy", "--port", "0", "--upstream", upstream, "--log-format", "json")
    with running(args, cwd=tmp_path, stderr=stderr) as proc:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(
            proc.url + "/portal-api/products/1/client_types?token=secret-in-query",
            data=b"{}",
            headers=TOKEN_HEADERS,
        )
        with pytest.raises(urllib.error.HTTPError) as answered:
            urllib.request.urlopen(request, timeout=10)
        assert answered.value.code == 502
        answered.value.close()
        assert proc.stop() == 0
    lines = [json.loads(line) for line in stderr.read_text().splitlines() if line.startswith("{")]
    [failure] = [line for line in lines if line.get("cause")]
    assert failure["level"] == "ERROR"
    assert failure["cause"] == "unreachable"
    assert failure["upstream"] == upstream
    assert upstream in failure["detail"]
    # The failure line names the upstream, never the request's path or query. (The access
    # log, a line of its own, shows the query less the spec's credentials.)
    assert "secret-in-query" not in json.dumps(failure)
    [access] = [line for line in lines if line.get("logger") == "portal_proxy.access"]
    assert access["status"] == 502
