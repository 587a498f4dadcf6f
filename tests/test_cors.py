"""CORS (`proxy/cors.py`) over real HTTP: preflights, marked responses, origins, modes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import vcr
from multidict import CIMultiDictProxy

from proxy.cli import main
from proxy.standin import Scripted
from tests.conftest import GatewayFactory, Running, StandinServer

ORIGIN = "http://127.0.0.1:8080"
CALL = {"Origin": ORIGIN, "Authorization": "tok", "Content-Type": "application/json"}
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type,authorization,x-trace-id",
}

Headers = CIMultiDictProxy[str]


async def send(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes = b"",
) -> tuple[int, Headers, bytes]:
    async with session.request(method, url, headers=headers, data=body or None) as response:
        return response.status, response.headers, await response.read()


async def preflight(
    session: aiohttp.ClientSession, url: str, **changes: str
) -> tuple[int, Headers, bytes]:
    return await send(session, "OPTIONS", url, {**PREFLIGHT, **changes})


async def call(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str] = CALL
) -> tuple[int, Headers, bytes]:
    return await send(session, "POST", url, headers, b'{"ID": 11}')


def assert_marked(headers: Headers, origin: str = ORIGIN) -> None:
    """The headers every response to a request with `Origin` carries."""
    assert headers.getall("Access-Control-Allow-Origin") == [origin]
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in [v.strip() for line in headers.getall("Vary") for v in line.split(",")]
    exposed = {name.strip().lower() for name in headers["Access-Control-Expose-Headers"].split(",")}
    assert {"sl-violations", "x-portal-proxy-source", "upstream-sl-violations"} <= exposed


def assert_unmarked(headers: Headers) -> None:
    assert not [name for name in headers if name.lower().startswith("access-control-")]


async def test_mock_answers_a_preflight_itself(
    mock_gateway: Running, session: aiohttp.ClientSession
) -> None:
    status, headers, body = await preflight(session, mock_gateway.route(1))
    assert (status, body) == (204, b"")
    assert_marked(headers)
    assert headers["Access-Control-Allow-Methods"] == "POST"
    # Every requested name echoed: `*` would mean nothing on a credentialed call.
    assert headers["Access-Control-Allow-Headers"] == "content-type, authorization, x-trace-id"
    assert int(headers["Access-Control-Max-Age"]) > 0
    assert headers["X-Portal-Proxy-Source"] == "gateway"
    assert "sl-violations" not in headers
    # Not a violation, not in the recent list, not counted.
    async with session.get(mock_gateway.url + "/__proxy/violations") as response:
        assert (await response.json())["count"] == 0
    async with session.get(mock_gateway.url + "/__proxy/metrics") as response:
        assert 'status="204"' not in await response.text()


async def test_every_response_to_a_call_with_origin_is_readable(
    gateway_factory: GatewayFactory, session: aiohttp.ClientSession
) -> None:
    mock = await gateway_factory("mock")
    status, headers, body = await call(session, mock.route(1))
    assert status == 201
    assert_marked(headers)
    assert orjson.loads(body)["ID"] == 11
    # A refusal with violations: the page can read the verdict.
    status, headers, _ = await call(session, mock.route(1), {**CALL, "Authorization": ""})
    assert status == 401
    assert_marked(headers)
    assert "sl-violations" in headers
    # The gateway's own errors: unknown route, a method the spec does not document.
    status, headers, _ = await send(session, "POST", mock.url + "/products/1/client_types", CALL)
    assert status == 404
    assert_marked(headers)
    status, headers, _ = await send(session, "GET", mock.route(1), {"Origin": ORIGIN})
    assert status == 405
    assert_marked(headers)


async def test_a_replay_miss_is_readable(
    gateway_factory: GatewayFactory, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    folder = tmp_path / "cassettes"
    folder.mkdir()
    (folder / "empty.yaml").write_text("interactions: []\nversion: 1\n")
    replay = await gateway_factory("replay", cassette_dir=folder)
    status, headers, body = await call(session, replay.route(1))
    assert status == 404
    assert orjson.loads(body)["type"] == "urn:portal-proxy:problem:replay-miss"
    assert_marked(headers)
    status, headers, _ = await preflight(session, replay.route(1))
    assert status == 204


async def test_an_options_that_is_no_preflight_is_a_405_with_allow(
    mock_gateway: Running, session: aiohttp.ClientSession
) -> None:
    status, headers, body = await send(session, "OPTIONS", mock_gateway.route(1), {})
    assert status == 405
    assert headers["Allow"] == "POST"
    assert orjson.loads(body)["type"] == "urn:portal-proxy:problem:method-not-allowed"
    status, headers, _ = await send(session, "OPTIONS", mock_gateway.route(1), {"Origin": ORIGIN})
    assert (status, headers["Allow"]) == (405, "POST")


async def test_a_preflight_on_a_path_the_spec_does_not_know_is_a_404(
    mock_gateway: Running, session: aiohttp.ClientSession
) -> None:
    status, headers, body = await preflight(session, mock_gateway.url + "/portal-api/nothing")
    assert status == 404
    assert orjson.loads(body)["type"] == "urn:portal-proxy:problem:unknown-route"
    assert "Access-Control-Allow-Methods" not in headers


async def test_requests_without_origin_and_admin_endpoints_get_no_cors_headers(
    mock_gateway: Running, session: aiohttp.ClientSession
) -> None:
    status, headers, _ = await call(
        session, mock_gateway.route(1), {k: v for k, v in CALL.items() if k != "Origin"}
    )
    assert status == 201
    assert_unmarked(headers)
    for path in ("/__proxy/health", "/__proxy/violations"):
        status, headers, _ = await send(session, "GET", mock_gateway.url + path, CALL)
        assert status == 200
        assert_unmarked(headers)
    status, headers, _ = await preflight(session, mock_gateway.url + "/__proxy/health")
    assert_unmarked(headers)


async def test_cors_origin_lists_who_may_call(
    gateway_factory: GatewayFactory, session: aiohttp.ClientSession
) -> None:
    mock = await gateway_factory("mock", cors_origin=(ORIGIN, "https://app.example"))
    assert (await preflight(session, mock.route(1)))[0] == 204
    status, headers, _ = await call(
        session, mock.route(1), {**CALL, "Origin": "https://app.example"}
    )
    assert status == 201
    assert_marked(headers, "https://app.example")
    evil = "http://evil.example"
    status, headers, body = await preflight(session, mock.route(1), Origin=evil)
    assert status == 403
    assert headers["Content-Type"] == "application/problem+json"
    problem = orjson.loads(body)
    assert problem["type"] == "urn:portal-proxy:problem:cors-origin-not-allowed"
    assert evil in problem["detail"]
    assert_unmarked(headers)
    status, headers, _ = await call(session, mock.route(1), {**CALL, "Origin": evil})
    assert status == 201
    assert_unmarked(headers)


def upstream_cors(standin: StandinServer) -> None:
    """Script the stand-in's next answer with CORS headers of its own."""
    standin.standin.script.append(
        Scripted(
            201,
            b'{"ID": 11}',
            [
                ("Content-Type", "application/json"),
                ("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Expose-Headers", "X-Portal-Request"),
                ("Vary", "Accept-Encoding"),
            ],
        )
    )


async def test_proxy_leaves_the_upstreams_cors_alone_by_default(
    gateway_factory: GatewayFactory, standin: StandinServer, session: aiohttp.ClientSession
) -> None:
    gw = await gateway_factory("proxy", upstream=standin.url)
    upstream_cors(standin)
    _, headers, _ = await call(session, gw.route(1))
    assert headers.getall("Access-Control-Allow-Origin") == ["*"]
    assert headers["Access-Control-Expose-Headers"] == "X-Portal-Request"
    assert headers.getall("Vary") == ["Accept-Encoding"]
    # `auto` is off in proxy: the preflight goes to the upstream as any request does.
    await preflight(session, gw.route(1))
    assert [r.method for r in standin.standin.received] == ["POST", "OPTIONS"]


async def test_proxy_with_cors_on_replaces_the_upstreams_cors(
    gateway_factory: GatewayFactory, standin: StandinServer, session: aiohttp.ClientSession
) -> None:
    gw = await gateway_factory("proxy", upstream=standin.url, cors="on")
    upstream_cors(standin)
    status, headers, _ = await call(session, gw.route(1))
    assert status == 201
    assert_marked(headers)  # one Allow-Origin, ours
    assert "x-portal-request" in headers["Access-Control-Expose-Headers"].lower()
    assert "Accept-Encoding" in headers.getall("Vary")
    assert (await preflight(session, gw.route(1)))[0] == 204
    assert (await preflight(session, gw.url + "/portal-api/unknown"))[0] == 404
    assert [r.method for r in standin.standin.received] == ["POST"]  # no preflight forwarded


async def test_record_with_cors_on_keeps_cors_out_of_the_cassette(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    gw = await gateway_factory(
        "record",
        upstream=standin.url,
        cassette="browser",
        record_mode="all",
        cors="on",
        cassette_dir=tmp_path / "cassettes",
    )
    assert (await preflight(session, gw.route(1)))[0] == 204
    status, headers, _ = await call(session, gw.route(1))
    assert status == 201
    assert_marked(headers)
    await gw.runner.cleanup()  # flush the cassette
    path = tmp_path / "cassettes" / "browser.yaml"
    with vcr.use_cassette(str(path), record_mode="none") as cassette:
        assert [request.method for request in cassette.requests] == ["POST"]
        recorded: dict[str, Any] = cassette.responses[0]["headers"]
    assert not [name for name in recorded if name.lower().startswith("access-control-")]
    assert not [name for name in recorded if name.lower() == "vary"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--cors", "sometimes"], "--cors"),
        (["--cors-origin", "not an origin"], "--cors-origin"),
        (["--cors-origin", "http://app.example/path"], "--cors-origin"),
    ],
    ids=["cors", "origin", "origin-with-path"],
)
def test_bad_cors_options_exit_2_naming_the_option(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["mock", *args])
    assert exited.value.code == 2
    assert needle in capsys.readouterr().err


async def test_record_with_cors_off_forwards_a_preflight_but_never_records_it(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    gw = await gateway_factory(
        "record",
        upstream=standin.url,
        cassette="plain",
        record_mode="all",
        cassette_dir=tmp_path / "cassettes",
    )
    await preflight(session, gw.route(1))  # the upstream answers it: `auto` is off here
    assert (await call(session, gw.route(1)))[0] == 201
    await gw.runner.cleanup()
    assert [r.method for r in standin.standin.received] == ["OPTIONS", "POST"]
    with vcr.use_cassette(str(tmp_path / "cassettes" / "plain.yaml"), record_mode="none") as tape:
        assert [request.method for request in tape.requests] == ["POST"]
