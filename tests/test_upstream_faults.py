"""Upstream faults from real misbehaving servers on loopback: never a 500, never a hang,
never a half exchange on disk."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import GatewayFactory

AUTH = {"Authorization": "fault-token", "Content-Type": "application/json"}
Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0) rather than a clean FIN."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)


async def reset_before(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    _reset(writer)


async def reset_mid_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"Name": "fo'
    )
    await writer.drain()
    await asyncio.sleep(0.05)
    _reset(writer)


async def _answer_then_close(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, answer: bytes
) -> None:
    """Read the request, send `answer` as the whole reply, then close cleanly (a FIN)."""
    await _read_request(reader)
    writer.write(answer)
    await writer.drain()
    writer.close()


async def close_mid_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _answer_then_close(
        reader, writer, b'HTTP/1.1 201 Created\r\nContent-Length: 100\r\n\r\n{"Name"'
    )


async def never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    await asyncio.sleep(30)


async def drips(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n"
    )
    for byte in b'{"ID": 1, "Name": "dripping", "Description": "x"}':
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(1.0)


async def malformed_status(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _answer_then_close(
        reader, writer, b"HTTP/1.1 two-hundred OK\r\nContent-Length: 0\r\n\r\n"
    )


async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _answer_then_close(reader, writer, b"\x00\x01 this is not http\r\n\r\n")


async def closes_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


@pytest.fixture
async def faulty() -> AsyncIterator[Callable[[Behaviour], Awaitable[str]]]:
    servers: list[asyncio.Server] = []
    tasks: set[asyncio.Task[None]] = set()

    async def start(behaviour: Behaviour) -> str:
        async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            try:
                await behaviour(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
                pass
            finally:
                writer.transport.abort()
                tasks.discard(task)

        server = await asyncio.start_server(guarded, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    yield start
    for task in list(tasks):
        task.cancel()  # handlers still sleeping (never_answers, drips)
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    ("behaviour", "status", "kind"),
    [
        (reset_before, 502, "upstream-unreachable"),
        (reset_mid_body, 502, "upstream-unreachable"),
        (close_mid_body, 502, "upstream-unreachable"),
        (never_answers, 504, "upstream-timeout"),
        (drips, 504, "upstream-timeout"),
        (malformed_status, 502, "upstream-unreachable"),
        (garbage, 502, "upstream-unreachable"),
        (closes_at_once, 502, "upstream-unreachable"),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
@pytest.mark.parametrize("mode", ["proxy", "record"])
async def test_upstream_faults_become_502_or_504_and_record_nothing(
    gateway_factory: GatewayFactory,
    faulty: Callable[[Behaviour], Awaitable[str]],
    session: aiohttp.ClientSession,
    tmp_path: Path,
    behaviour: Behaviour,
    status: int,
    kind: str,
    mode: str,
) -> None:
    upstream = await faulty(behaviour)
    extra = {"cassette": "faults", "record_mode": "all"} if mode == "record" else {}
    gw = await gateway_factory(mode, upstream=upstream, upstream_timeout=1.5, **extra)
    started = time.monotonic()
    async with session.post(gw.route(1), json={"ID": 1}, headers=AUTH) as response:
        elapsed = time.monotonic() - started
        assert response.status == status
        assert response.content_type == "application/problem+json"
        assert response.headers["X-Portal-Proxy-Source"] == "gateway"
        problem = await response.json()
    assert problem["type"].endswith(kind)
    assert upstream in problem["detail"]
    assert elapsed < 1.5 + 2.0  # never a hang past --upstream-timeout
    await gw.runner.cleanup()
    assert not (tmp_path / "cassettes" / "faults.yaml").exists()  # no half exchange recorded


async def test_a_good_exchange_after_faults_is_recorded_alone(
    gateway_factory: GatewayFactory,
    faulty: Callable[[Behaviour], Awaitable[str]],
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    from proxy.standin import Standin

    standin = Standin()
    runner = aiohttp.web.AppRunner(standin.app())
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        gw = await gateway_factory(
            "record", upstream=f"http://{host}:{port}", cassette="mixed", record_mode="all"
        )
        async with session.post(gw.route(1), json={"ID": 1}, headers=AUTH) as response:
            assert response.status == 201
        await gw.runner.cleanup()
    finally:
        await runner.cleanup()
    import yaml

    data = yaml.safe_load((tmp_path / "cassettes" / "mixed.yaml").read_text())
    assert len(data["interactions"]) == 1
