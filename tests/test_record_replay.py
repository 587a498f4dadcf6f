"""Record through the gateway, play back with VCR.py itself and with `replay`, over real HTTP."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import json
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import vcr
import yaml

from proxy.standin import Scripted
from tests.conftest import ROUTE, GatewayFactory, Running, StandinServer

AUTH = {"Authorization": "record-token", "Content-Type": "application/json"}


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, bytes]:
    data = raw if raw is not None else orjson.dumps(body if body is not None else {"ID": 11})
    async with session.post(url, data=data, headers=headers or AUTH) as response:
        return response.status, response.headers.copy(), await response.read()


async def record(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    tmp_path: Path,
    name: str = "rec",
    **settings: Any,
) -> Running:
    settings.setdefault("record_mode", "all")
    return await gateway_factory(
        "record",
        upstream=standin.url,
        cassette=name,
        cassette_dir=tmp_path / "cassettes",
        **settings,
    )


async def replay_of(gateway_factory: GatewayFactory, tmp_path: Path, **settings: Any) -> Running:
    """A replay gateway over what `record` wrote."""
    return await gateway_factory(
        "replay", cassette="rec", cassette_dir=tmp_path / "cassettes", **settings
    )


def script_json(standin: StandinServer, body: bytes) -> None:
    """Queue one scripted `201 application/json` answer on the stand-in, ahead of its default."""
    standin.standin.script.append(Scripted(201, body, [("Content-Type", "application/json")]))


async def record_and_stop(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
    tmp_path: Path,
    body: Any = None,
    *,
    raw: bytes | None = None,
    times: int = 1,
) -> tuple[int, Any, bytes]:
    """Record `times` identical POSTs to product 1 into the "rec" cassette, then stop the
    recording gateway so everything is flushed to disk; return the last live answer."""
    gw = await record(gateway_factory, standin, tmp_path)
    for _ in range(times):
        answer = await post(session, gw.route(1), body, raw=raw)
    await gw.runner.cleanup()
    return answer


def load_yaml(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


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


async def test_secrets_are_redacted_in_the_cassette(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    standin.standin.script.append(
        Scripted(
            201,
            b'{"ID": 1}',
            [
                ("Content-Type", "application/json"),
                ("Set-Cookie", "session=cookie-secret-1; HttpOnly"),
                ("X-Internal-Key", "internal-secret-2"),
            ],
        )
    )
    gw = await record(gateway_factory, standin, tmp_path, filter_header=("X-Internal-Key",))
    headers = {**AUTH, "Authorization": "token-secret-0", "X-Internal-Key": "internal-secret-3"}
    status, live, _ = await post(session, gw.route(1), headers=headers)
    assert status == 201
    assert live["Set-Cookie"].startswith("session=cookie-secret-1")  # the client still gets it
    # ...and the upstream got the real credential.
    assert dict(standin.standin.received[0].headers)["Authorization"] == "token-secret-0"
    await gw.runner.cleanup()
    text = (tmp_path / "cassettes" / "rec.yaml").read_text()
    for secret in ("token-secret-0", "cookie-secret-1", "internal-secret-2", "internal-secret-3"):
        assert secret not in text
    assert "REDACTED" in text


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


async def test_upstream_with_base_path_is_not_doubled(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
) -> None:
    gw = await gateway_factory("proxy", upstream=standin.url + "/portal-api/")
    status, _, _ = await post(session, gw.route(4))
    assert status == 201
    assert standin.standin.received[0].path_qs == ROUTE.format(4)


async def test_host_header_cannot_send_traffic_elsewhere(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
) -> None:
    gw = await gateway_factory("proxy", upstream=standin.url)
    headers = {**AUTH, "Host": "evil.example:80"}
    status, _, _ = await post(session, gw.route(4), headers=headers)
    assert status == 201
    received = dict(standin.standin.received[0].headers)
    assert received["Host"] == standin.url.split("://", 1)[1]


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
