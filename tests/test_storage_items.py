"""Every cassette VCR.py writes replays: files written by VCR.py itself, served by
`portal-proxy replay`, checked with a real client (`requests`, which decodes gzip)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from proxy.storage import load_cassette
from tests.conftest import ROUTE, TOKEN_HEADERS, GatewayFactory
from tests.vcrpy_files import record_aiohttp_json, record_requests_body, standin_server


async def replay_post(
    gateway_factory: GatewayFactory, folder: Path, name: str, **kwargs: Any
) -> requests.Response:
    """`portal-proxy replay` of the cassette, and a `requests` POST to it."""
    gateway = await gateway_factory("replay", cassette_dir=folder, cassette=name)
    url = gateway.url + ROUTE.format(1)
    return await asyncio.to_thread(requests.post, url, headers=TOKEN_HEADERS, timeout=10, **kwargs)


@pytest.mark.parametrize(
    ("body", "status"), [({"ID": 3}, 201), ([{"ID": 3}, 4], 422)], ids=["mapping", "list"]
)
async def test_aiohttp_json_bodies_stored_as_yaml_data_replay(
    gateway_factory: GatewayFactory, tmp_path: Path, body: Any, status: int
) -> None:
    path = tmp_path / "json.yaml"
    async with standin_server() as url:
        await record_aiohttp_json(path, url, body, Authorization="test-token")
    stored = yaml.safe_load(path.read_text())["interactions"][0]["request"]["body"]
    assert stored == body  # VCR.py wrote data, not text
    # The body matcher compares JSON as data: a differently spaced body matches.
    answer = await replay_post(gateway_factory, tmp_path, "json", json=body)
    assert answer.status_code == status, answer.text  # what the stand-in answered
    assert answer.headers["X-Portal-Proxy-Source"] == "cassette"


@pytest.mark.parametrize("form", ["file", "generator"])
async def test_file_like_and_generator_bodies_replay(
    gateway_factory: GatewayFactory, tmp_path: Path, form: str
) -> None:
    path = tmp_path / f"{form}.yaml"
    async with standin_server() as url:
        await record_requests_body(path, url, b'{"ID": 5}', form=form)
    tag = "_io.BytesIO" if form == "file" else "builtins.iter"
    assert tag in path.read_text()
    assert load_cassette(path)[0].request.body == b'{"ID": 5}'
    answer = await replay_post(gateway_factory, tmp_path, form, data=b'{"ID": 5}')
    assert answer.status_code == 201, answer.text
    assert answer.json()["ID"] == 5


async def test_a_decoded_body_keeping_content_encoding_is_served_decodable(
    gateway_factory: GatewayFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "gzip.yaml"
    async with standin_server(gzip_responses=True) as url:
        await record_aiohttp_json(path, url, {"ID": 7}, {"ID": 8}, Authorization="t")
    recorded = yaml.safe_load(path.read_text())["interactions"]
    assert [i["response"]["headers"]["Content-Encoding"] for i in recorded] == [["gzip"]] * 2
    assert all(isinstance(i["response"]["body"]["string"], str) for i in recorded)
    with caplog.at_level(logging.WARNING, logger="proxy.storage"):
        answer = await replay_post(gateway_factory, tmp_path, "gzip", json={"ID": 8})
    assert answer.status_code == 201
    assert answer.json()["ID"] == 8  # requests decodes it: no gzip header on plain text
    assert "Content-Encoding" not in answer.headers
    warnings = [r.getMessage() for r in caplog.records if "Content-Encoding" in r.getMessage()]
    assert len(warnings) == 1, warnings  # one warning at load, naming the interactions
    assert f"{path}: interactions 0, 1:" in warnings[0]
