"""`record` mode in-process: what the recorder writes, VCR.py plays it, record modes, gzip,
concurrency (the recorder as a real process: `test_record_process.py`).
"""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path

import aiohttp
import orjson
import pytest
import vcr

from tests.conftest import (
    ROUTE,
    GatewayFactory,
    StandinServer,
)
from tests.recording import (
    AUTH,
    load_yaml,
    post,
    record,
    record_and_stop,
)


async def test_recorded_cassette_plays_in_vcrpy_for_a_direct_client(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    gw = await record(gateway_factory, standin, tmp_path)
    status, headers, body = await post(session, gw.route(3), {"ID": 5})
    assert status == 201
    assert headers["X-Portal-Proxy-Source"] == "upstream"
    await gw.runner.cleanup()  # stop: everything recorded is flushed
    path = tmp_path / "cassettes" / "rec.yaml"
    data = load_yaml(path)
    assert data["version"] == 1
    [interaction] = data["interactions"]
    assert interaction["request"]["uri"] == standin.url + ROUTE.format(3)
    assert isinstance(interaction["response"]["body"]["string"], str)
    # VCR.py itself, around a client that calls the upstream URL directly.
    with vcr.use_cassette(str(path), record_mode="none") as cassette:
        async with (
            aiohttp.ClientSession() as direct,
            direct.post(standin.url + ROUTE.format(3), json={"ID": 5}, headers=AUTH) as played,
        ):
            assert played.status == 201
            assert played.headers["Content-Type"] == headers["Content-Type"]
            assert await played.read() == body
        assert cassette.play_count == 1


async def test_gzip_reaches_the_client_as_gzip_and_the_cassette_as_text(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    standin.standin.gzip_responses = True
    gw = await record(gateway_factory, standin, tmp_path)
    status, headers, body = await post(session, gw.route(1))
    assert status == 201
    assert headers["Content-Encoding"] == "gzip"
    assert orjson.loads(gzip.decompress(body))["ID"] == 11
    assert "sl-violations" not in headers  # validated after decoding
    await gw.runner.cleanup()
    text = (tmp_path / "cassettes" / "rec.yaml").read_text()
    assert "!!binary" not in text
    [interaction] = load_yaml(tmp_path / "cassettes" / "rec.yaml")["interactions"]
    response = interaction["response"]
    assert "Content-Encoding" not in response["headers"]
    assert orjson.loads(response["body"]["string"])["ID"] == 11
    assert response["headers"]["Content-Length"] == [str(len(response["body"]["string"]))]


async def test_five_hundred_concurrent_distinct_requests_give_five_hundred_interactions(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    tmp_path: Path,
) -> None:
    gw = await record(gateway_factory, standin, tmp_path)
    connector = aiohttp.TCPConnector(limit=500)
    async with aiohttp.ClientSession(connector=connector) as client:
        results = await asyncio.gather(*(post(client, gw.route(n), {"ID": n}) for n in range(500)))
    assert [status for status, _, _ in results] == [201] * 500
    await gw.runner.cleanup()
    path = tmp_path / "cassettes" / "rec.yaml"
    with vcr.use_cassette(str(path), record_mode="none") as cassette:
        assert len(cassette) == 500
    uris = {i["request"]["uri"] for i in load_yaml(path)["interactions"]}
    assert len(uris) == 500


async def test_interactions_are_on_disk_within_a_second(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    gw = await record(gateway_factory, standin, tmp_path)
    await post(session, gw.route(1))
    await asyncio.sleep(1.0)
    data = load_yaml(tmp_path / "cassettes" / "rec.yaml")  # while still recording
    assert len(data["interactions"]) == 1


@pytest.mark.parametrize(
    ("mode", "exists", "upstream_calls", "source"),
    [
        ("once", False, 1, "upstream"),
        ("once", True, 0, "cassette"),
        ("all", True, 1, "upstream"),
        ("new_episodes", True, 0, "cassette"),
        ("none", True, 0, "cassette"),
    ],
)
async def test_record_modes(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
    tmp_path: Path,
    mode: str,
    exists: bool,
    upstream_calls: int,
    source: str,
) -> None:
    if exists:
        await record_and_stop(gateway_factory, standin, session, tmp_path)
        standin.standin.received.clear()
    gw = await record(gateway_factory, standin, tmp_path, record_mode=mode)
    status, headers, _ = await post(session, gw.route(1))
    assert status == 201
    assert headers["X-Portal-Proxy-Source"] == source
    assert len(standin.standin.received) == upstream_calls


async def test_new_episodes_records_misses_and_none_refuses_them(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    await record_and_stop(gateway_factory, standin, session, tmp_path)
    episodes = await record(gateway_factory, standin, tmp_path, record_mode="new_episodes")
    _, headers, _ = await post(session, episodes.route(2))
    assert headers["X-Portal-Proxy-Source"] == "upstream"
    _, headers, _ = await post(session, episodes.route(2))
    assert headers["X-Portal-Proxy-Source"] == "cassette"
    await episodes.runner.cleanup()
    assert len(load_yaml(tmp_path / "cassettes" / "rec.yaml")["interactions"]) == 2
    none = await record(gateway_factory, standin, tmp_path, record_mode="none")
    status, _, body = await post(session, none.route(3))
    assert status == 404
    assert orjson.loads(body)["type"].endswith("replay-miss")
