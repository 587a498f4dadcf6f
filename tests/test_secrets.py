"""A unique token, sent in every mode, reaches no file, log line, report, metric or webhook."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from proxy.standin import Scripted
from tests.cli_process import command, record_command, running
from tests.conftest import ROUTE, StandinServer, every_file_text


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[str, list[bytes]]]:
    """A real receiver on loopback that keeps every payload it gets."""
    received: list[bytes] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}/hook", received
    await runner.cleanup()


@pytest.mark.parametrize("mode", ["mock", "replay", "record", "proxy"])
async def test_a_unique_token_appears_nowhere(
    mode: str, standin: StandinServer, webhook: tuple[str, list[bytes]], tmp_path: Path
) -> None:
    token = f"tok-{uuid.uuid4().hex}"
    hook_url, payloads = webhook
    folder = tmp_path / "cassettes"
    if mode == "replay":
        # A cassette to replay, recorded with the token (so redaction happened at record).
        args = record_command(standin.url, folder, "s")
        with running(args, cwd=tmp_path) as proc:
            async with (
                aiohttp.ClientSession() as client,
                client.post(
                    proc.url + ROUTE.format(1), json={"ID": 1}, headers={"Authorization": token}
                ) as response,
            ):
                assert response.status == 201
            assert proc.stop() == 0
    standin.standin.invalid = True  # upstream answers violate the spec: reports and alerts
    for _ in range(3):
        standin.standin.script.append(
            Scripted(
                201,
                b'{"ID": "x"}',
                [("Content-Type", "application/json"), ("Set-Cookie", f"session={token}")],
            )
        )
    extra = {
        "mock": [],
        "replay": ["--cassette", "s", "--on-miss", "mock"],
        "record": ["--upstream", standin.url, "--cassette", "r"],
        "proxy": ["--upstream", standin.url],
    }[mode]
    args = command(
        mode,
        "--port",
        "0",
        "--cassette-dir",
        str(folder),
        "--log-format",
        "json",
        "--alert-webhook",
        hook_url,
        "--alert-window",
        "1",
        *extra,
    )
    log = tmp_path / "stderr.log"
    with running(args, cwd=tmp_path, stderr=log) as proc:
        async with aiohttp.ClientSession() as client:
            for body, product in ((b'{"ID": 1}', "1"), (b'{"ID": "bad"}', "1"), (b"{", "x")):
                async with client.post(
                    proc.url + ROUTE.format(product),
                    data=body,
                    headers={
                        "Authorization": token,
                        "Content-Type": "application/json",
                        "Cookie": f"c={token}",
                    },
                ) as response:
                    assert response.status < 500
            await asyncio.sleep(0.5)  # the webhook sender runs in the background
            views = []
            for endpoint in ("violations", "metrics", "cassettes", "health"):
                async with client.get(f"{proc.url}/__proxy/{endpoint}") as response:
                    views.append(await response.text())
        assert proc.stop() == 0
    logged = log.read_text()
    assert '"violations"' in logged  # the log really reported these exchanges
    assert payloads, "the webhook got no alert"
    assert any("text" in p.decode() for p in payloads)
    written = every_file_text(tmp_path)
    for where, text in [
        ("files and logs", written),
        ("admin endpoints", "\n".join(views)),
        ("webhook payloads", b"\n".join(payloads).decode()),
    ]:
        assert token not in text, f"the token leaked into {where}"
