"""The recorder as a real process: secrets on disk and in logs, kills, graceful stops."""

from __future__ import annotations

import asyncio
import random
import signal
import time
import uuid
from pathlib import Path

import aiohttp
import orjson
import pytest
import vcr
import yaml

from proxy.standin import Scripted
from tests.cli_process import command, record_command, running
from tests.conftest import ROUTE, StandinServer, every_file_text


async def test_a_unique_token_reaches_no_file_and_no_log_line(
    standin: StandinServer, tmp_path: Path
) -> None:
    token = f"secret-{uuid.uuid4().hex}"
    logs = tmp_path / "logs"
    logs.mkdir()
    standin.standin.script.append(
        Scripted(
            201,
            b'{"ID": "not-an-int"}',
            [("Content-Type", "application/json"), ("Set-Cookie", f"sid={token}")],
        )
    )
    args = record_command(standin.url, tmp_path / "cassettes", "secrets", "--log-format", "json")
    with running(args, stderr=logs / "stderr.log", cwd=tmp_path) as proc:
        async with aiohttp.ClientSession() as client:
            headers = {"Authorization": token, "Content-Type": "application/json"}
            # A response with violations (logged), a bad request (logged) and a fine one.
            for body in (b'{"ID": 1}', b'{"ID": "x"}', b'{"ID": 2}'):
                async with client.post(
                    proc.url + ROUTE.format(1), data=body, headers=headers
                ) as response:
                    assert response.status in (201, 422)
            async with client.get(proc.url + "/__proxy/violations") as report:
                assert token not in await report.text()
            async with client.get(proc.url + "/__proxy/metrics") as metrics:
                assert token not in await metrics.text()
        assert proc.stop() == 0
    log_text = (logs / "stderr.log").read_text()
    assert "violation" in log_text.lower()  # the log really has lines about these exchanges
    cassette = (tmp_path / "cassettes" / "secrets.yaml").read_text()
    assert len(yaml.safe_load(cassette)["interactions"]) == 3
    assert token not in every_file_text(tmp_path)


async def _load(url: str, stop_at: float, received: list[tuple[float, str]]) -> None:
    """Send distinct requests until `stop_at`, noting when each response arrived."""
    async with aiohttp.ClientSession() as client:
        n = 0
        while time.monotonic() < stop_at:
            n += 1
            product = f"{uuid.uuid4().int % 10**9}"
            try:
                async with client.post(
                    url + ROUTE.format(product),
                    data=orjson.dumps({"ID": n}),
                    headers={"Authorization": "t", "Content-Type": "application/json"},
                ) as response:
                    await response.read()
                    if response.status == 201:
                        received.append((time.monotonic(), product))
            except aiohttp.ClientError:
                return  # the recorder was killed


def recorded_products(path: Path) -> set[str]:
    with vcr.use_cassette(str(path), record_mode="none") as cassette:
        uris = [request.uri for request in cassette.requests]
    return {uri.split("/products/", 1)[1].split("/", 1)[0] for uri in uris}


# 3-5 s each (a start-up, up to 2.7 s of load, VCR.py's load): with the slow suite, like
# test_load's 20-kill loop, so that `-m 'not slow'` stays a quick loop while developing.
@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_sigkill_while_recording_leaves_a_cassette_vcrpy_loads(
    standin: StandinServer, tmp_path: Path, seed: int
) -> None:
    standin.standin.keep_received = False
    path = tmp_path / "cassettes" / "kill.yaml"
    args = record_command(standin.url, tmp_path / "cassettes", "kill")
    received: list[tuple[float, str]] = []
    with running(args, cwd=tmp_path) as proc:
        kill_after = 1.2 + random.Random(seed).random() * 1.5
        deadline = time.monotonic() + 10
        loaders = [asyncio.create_task(_load(proc.url, deadline, received)) for _ in range(8)]
        await asyncio.sleep(kill_after)
        killed_at = time.monotonic()
        proc.popen.kill()
        proc.popen.wait(timeout=10)
        await asyncio.gather(*loaders)
    safe = {product for at, product in received if at < killed_at - 1.0}
    assert safe, "the load produced no responses before the kill"
    on_disk = recorded_products(path)
    assert safe <= on_disk


async def test_sigterm_finishes_in_flight_requests_and_flushes(
    standin: StandinServer, tmp_path: Path
) -> None:
    for _ in range(5):
        standin.standin.script.append(
            Scripted(201, b'{"ID": 1}', [("Content-Type", "application/json")], delay=1.0)
        )
    args = record_command(standin.url, tmp_path / "cassettes", "term")
    with running(args, cwd=tmp_path) as proc:
        async with aiohttp.ClientSession() as client:

            async def one(n: int) -> int:
                async with client.post(
                    proc.url + ROUTE.format(n),
                    json={"ID": 1},
                    headers={"Authorization": "t"},
                ) as response:
                    await response.read()
                    return response.status

            pending = [asyncio.create_task(one(n)) for n in range(5)]
            await asyncio.sleep(0.4)  # all five are waiting on the slow upstream
            proc.popen.send_signal(signal.SIGTERM)
            statuses = await asyncio.gather(*pending)
        assert statuses == [201] * 5
        assert await asyncio.to_thread(proc.popen.wait, 30) == 0
    assert len(recorded_products(tmp_path / "cassettes" / "term.yaml")) == 5


async def test_two_recorders_on_one_cassette_the_second_is_refused(
    standin: StandinServer, tmp_path: Path
) -> None:
    base = [
        "record",
        "--port",
        "0",
        "--upstream",
        standin.url,
        "--cassette",
        "shared",
        "--cassette-dir",
        str(tmp_path / "cassettes"),
    ]
    with running(command(*base), cwd=tmp_path) as first:
        second = await asyncio.create_subprocess_exec(
            *command(*base), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        _, err = await asyncio.wait_for(second.communicate(), 30)
        assert second.returncode == 2
        assert b"shared.yaml" in err and b"another" in err
        assert first.stop() == 0
