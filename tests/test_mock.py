"""`mock` mode: a named cassette answers first, the spec synthesizes the rest (the synthesized
bodies: `test_synth.py`; request validation: `test_validation.py`)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import orjson

from tests.conftest import GatewayFactory, StandinServer
from tests.recording import post, record_and_stop, script_json


async def test_mock_serves_a_named_cassette_before_synthesizing(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    script_json(standin, b'{"ID": 11, "Name": "from-cassette"}')
    await record_and_stop(gateway_factory, standin, session, tmp_path)
    mock = await gateway_factory("mock", cassette="rec", cassette_dir=tmp_path / "cassettes")
    _, headers, body = await post(session, mock.route(1))
    assert headers["X-Portal-Proxy-Source"] == "cassette"
    assert orjson.loads(body)["Name"] == "from-cassette"
    _, headers, body = await post(session, mock.route(1), {"ID": 99})
    assert headers["X-Portal-Proxy-Source"] == "mock"
    assert orjson.loads(body)["Name"] == "foo"
