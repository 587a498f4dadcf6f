"""`replay` mode: byte-identical answers from a recording, matching, order, misses naming the
nearest recordings, `--on-miss mock`, and recordings that no longer fit the spec.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import aiohttp
import orjson

from tests.conftest import (
    ROUTE,
    GatewayFactory,
    StandinServer,
)
from tests.recording import (
    post,
    record_and_stop,
    replay_of,
    script_json,
)


async def test_replay_is_byte_identical_to_what_the_upstream_sent(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    _, live_headers, live_body = await record_and_stop(gateway_factory, standin, session, tmp_path)
    replay = await replay_of(gateway_factory, tmp_path)
    status, headers, body = await post(session, replay.route(1))
    assert status == 201
    assert body == live_body
    assert headers["X-Portal-Proxy-Source"] == "cassette"
    assert headers["Content-Type"] == live_headers["Content-Type"]
    assert headers["Server"] == live_headers["Server"]
    assert "Date" in headers
    assert "sl-violations" not in headers


async def test_json_body_matching_ignores_key_order_and_whitespace(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    await record_and_stop(
        gateway_factory, standin, session, tmp_path, raw=b'{"ID": 7, "Extra": {"a": 1, "b": 2}}'
    )
    replay = await replay_of(gateway_factory, tmp_path)
    status, _, _ = await post(session, replay.route(1), raw=b'{"Extra":{"b":2,"a":1},\n"ID":7}')
    assert status == 201
    status, _, _ = await post(session, replay.route(1), raw=b'{"ID": 8}')
    assert status == 404


async def test_same_request_plays_in_recorded_order_then_the_last_repeats(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    for n in (1, 2, 3):
        script_json(standin, orjson.dumps({"ID": n}))
    await record_and_stop(gateway_factory, standin, session, tmp_path, times=3)
    replay = await replay_of(gateway_factory, tmp_path)
    seen = [orjson.loads((await post(session, replay.route(1)))[2])["ID"] for _ in range(5)]
    assert seen == [1, 2, 3, 3, 3]
    async with session.get(replay.url + "/__proxy/cassettes") as listing:
        cassettes = (await listing.json())["cassettes"]
    assert cassettes == [{"name": "rec", "interactions": 3, "plays": 5, "recording": False}]


async def test_a_miss_names_the_nearest_recordings_and_what_differed(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    await record_and_stop(gateway_factory, standin, session, tmp_path, {"ID": 11})
    replay = await replay_of(gateway_factory, tmp_path)
    status, headers, body = await post(session, replay.route(1), {"ID": 42})
    assert status == 404
    assert headers["Content-Type"] == "application/problem+json"
    assert headers["X-Portal-Proxy-Source"] == "gateway"
    problem = orjson.loads(body)
    assert problem["type"].endswith("replay-miss")
    [nearest] = problem["nearest"]
    assert nearest["method"] == "POST"
    assert nearest["uri"].endswith(ROUTE.format(1))
    [mismatch] = nearest["mismatches"]
    assert mismatch["matcher"] == "body"
    assert "11" in mismatch["recorded"] and "42" in mismatch["received"]


async def test_on_miss_mock_generalizes_from_the_nearest_recording(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    script_json(
        standin,
        orjson.dumps(
            {"Name": "recorded", "ID": 11, "GrantType": "pkce", "CreatedAt": "2024-01-02 03:04"}
        ),
    )
    await record_and_stop(gateway_factory, standin, session, tmp_path, {"ID": 11})
    replay = await replay_of(gateway_factory, tmp_path, on_miss="mock")
    status, headers, body = await post(session, replay.route(9), {"ID": 42})
    assert status == 201
    assert headers["X-Portal-Proxy-Source"] == "mock"
    document = orjson.loads(body)
    # The recording's shape, this request's ID, and the current time where the server sets
    # it (like the plain mock), not the recording's old timestamp.
    created = datetime.datetime.strptime(document.pop("CreatedAt"), "%Y-%m-%d %H:%M")
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    assert abs((now - created).total_seconds()) < 120
    assert document == {"Name": "recorded", "ID": 42, "GrantType": "pkce"}


async def test_replay_reports_a_cassette_that_no_longer_fits_the_spec(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    standin.standin.invalid = True
    _, live, _ = await record_and_stop(gateway_factory, standin, session, tmp_path)
    assert "sl-violations" in live  # the recording went on regardless
    replay = await replay_of(gateway_factory, tmp_path)
    for _ in range(2):  # validated once at first play, then from the cache: same answer
        status, headers, _ = await post(session, replay.route(1))
        assert status == 201
        found = json.loads(headers["sl-violations"])
        assert sorted((tuple(v["location"]), v["code"]) for v in found) == [
            (("response", "body", "CreatedAt"), "pattern"),
            (("response", "body", "GrantType"), "enum"),
        ]


async def test_replay_of_a_path_neither_spec_nor_cassette_knows_is_an_unknown_route(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    await record_and_stop(gateway_factory, standin, session, tmp_path)
    replay = await replay_of(gateway_factory, tmp_path)
    async with session.post(replay.url + "/portal-api/nothing", json={}) as response:
        assert response.status == 404
        assert (await response.json())["type"].endswith("unknown-route")
    async with session.get(replay.route(1)) as response:
        assert response.status == 405
        assert response.headers["Allow"] == "POST"
