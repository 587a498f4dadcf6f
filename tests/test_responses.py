"""Whose verdict: the client's `sl-violations` is only ever the gateway's; an upstream's own
(a Prism in front of the portal) arrives as `upstream-sl-violations`, is recorded as the
upstream sent it, and is replayed under the new name too."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import orjson
import vcr

from proxy.standin import Scripted
from tests.conftest import ROUTE, TOKEN_HEADERS, GatewayFactory, StandinServer

THEIRS = '[{"location":["response"],"severity":"Error","code":"prism","message":"theirs"}]'
VALID = b'{"ID": 7, "Name": "ok", "Description": "d", "CreatedAt": "2023-06-23 21:02"}'
JSON = ("Content-Type", "application/json")


def scripted(body: bytes) -> Scripted:
    return Scripted(201, body, [JSON, ("sl-violations", THEIRS)])


async def test_proxy_renames_the_upstreams_verdict_and_keeps_its_own(
    gateway_factory: GatewayFactory, standin: StandinServer, session: aiohttp.ClientSession
) -> None:
    standin.standin.script.extend([scripted(VALID), scripted(b'{"ID": "not a number"}')])
    gw = await gateway_factory("proxy", upstream=standin.url)
    async with session.post(gw.route(1), json={"ID": 7}, headers=TOKEN_HEADERS) as clean:
        # Nothing wrong by our reading: no `sl-violations` at all, theirs under its new name.
        assert "sl-violations" not in clean.headers
        assert clean.headers["upstream-sl-violations"] == THEIRS
    async with session.post(gw.route(1), json={"ID": 7}, headers=TOKEN_HEADERS) as invalid:
        ours = orjson.loads(invalid.headers["sl-violations"])
        assert ours and all(v["code"] != "prism" for v in ours)
        assert invalid.headers.getall("upstream-sl-violations") == [THEIRS]


async def test_record_keeps_the_original_name_and_replay_renames_it(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    standin.standin.script.append(scripted(VALID))
    recorder = await gateway_factory("record", upstream=standin.url, cassette="prism")
    async with session.post(recorder.route(1), json={"ID": 7}, headers=TOKEN_HEADERS) as live:
        assert live.headers["upstream-sl-violations"] == THEIRS
        assert "sl-violations" not in live.headers
    await recorder.runner.cleanup()
    path = tmp_path / "cassettes" / "prism.yaml"

    # VCR.py plays what the upstream sent: the header under its own name.
    with vcr.use_cassette(str(path), record_mode="none") as cassette:
        async with (
            aiohttp.ClientSession() as direct,
            direct.post(
                standin.url + ROUTE.format(1), json={"ID": 7}, headers=TOKEN_HEADERS
            ) as played,
        ):
            assert played.headers["sl-violations"] == THEIRS
            assert "upstream-sl-violations" not in played.headers
        assert cassette.play_count == 1

    replay = await gateway_factory("replay", cassette="prism")
    async with session.post(replay.route(1), json={"ID": 7}, headers=TOKEN_HEADERS) as replayed:
        assert replayed.status == 201
        assert replayed.headers["upstream-sl-violations"] == THEIRS
        assert "sl-violations" not in replayed.headers
