"""Tests for proxy.storage.writer: whatever we write is redacted, old interactions too, and
one recorder per cassette holds a lock outside the user's tree."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
import pytest
import vcr

from proxy.storage import CassetteLockedError, load_cassette
from proxy.storage.lock import lock_path
from tests.conftest import ROUTE, GatewayFactory, StandinServer, every_file_text
from tests.vcrpy_files import record_aiohttp_json

TOKEN = "secret-token"


async def test_new_episodes_on_a_vcrpy_cassette_redacts_the_old_interactions(
    gateway_factory: GatewayFactory, standin: StandinServer, tmp_path: Path
) -> None:
    folder = tmp_path / "cassettes"
    folder.mkdir()
    path = folder / "vcr.yaml"
    await record_aiohttp_json(path, standin.url, {"ID": 1}, Authorization=TOKEN)
    assert TOKEN in path.read_text()  # VCR.py keeps it: the planted secret
    gw = await gateway_factory(
        "record",
        upstream=standin.url,
        cassette_dir=folder,
        cassette="vcr",
        record_mode="new_episodes",
    )
    headers = {"Authorization": TOKEN}
    async with aiohttp.ClientSession() as client:
        async with client.post(gw.route(1), json={"ID": 1}, headers=headers) as old:
            assert old.headers["X-Portal-Proxy-Source"] == "cassette"
        async with client.post(gw.route(2), json={"ID": 2}, headers=headers) as new:
            assert new.status == 201
    await gw.runner.cleanup()  # stop: the rewrite and the append are flushed
    assert TOKEN not in every_file_text(tmp_path)
    with vcr.use_cassette(str(path), record_mode="none") as played:  # VCR.py still reads it
        assert len(played.data) == 2
    assert [dict(i.request.headers)["Authorization"] for i in load_cassette(path)] == [
        "REDACTED",
        "REDACTED",
    ]


async def test_a_second_recorder_is_refused_and_no_lock_file_is_left_beside_the_cassette(
    gateway_factory: GatewayFactory, standin: StandinServer, tmp_path: Path
) -> None:
    folder = tmp_path / "cassettes"
    first = await gateway_factory(
        "record", upstream=standin.url, cassette_dir=folder, cassette="c", record_mode="all"
    )
    with pytest.raises(
        CassetteLockedError, match=r"another portal-proxy is recording to .*c\.yaml"
    ):
        await gateway_factory(
            "record", upstream=standin.url, cassette_dir=folder, cassette="c", record_mode="all"
        )
    async with (
        aiohttp.ClientSession() as client,
        client.post(first.url + ROUTE.format(3), json={"ID": 3}) as answer,
    ):
        assert answer.status in (201, 401)
    await first.runner.cleanup()
    assert os.listdir(folder) == ["c.yaml"]  # what `git add tests/cassettes/` picks up
    assert not str(lock_path(folder / "c.yaml")).startswith(str(tmp_path))
