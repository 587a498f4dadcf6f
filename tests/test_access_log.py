"""The access log (`proxy/sinks/access_log.py`): one line per request, no secret in it."""

from __future__ import annotations

import logging
import signal
import urllib.request
from pathlib import Path

import aiohttp
import orjson
import pytest
import yaml

from proxy.report import JsonFormatter
from proxy.spec import shipped_spec_path
from tests.cli_process import command, running
from tests.conftest import TOKEN_HEADERS, GatewayFactory

ORIGIN = "http://127.0.0.1:8080"
KEYS = {"time", "method", "path", "status", "source", "duration_ms", "violations"}


@pytest.fixture
def access_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """caplog, capturing `portal_proxy.access` at INFO (the CLI's level)."""
    caplog.set_level(logging.INFO, logger="portal_proxy.access")
    return caplog


def json_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    """The access log's records as the JSON lines `--log-format json` writes."""
    formatter = JsonFormatter()
    return [
        orjson.loads(formatter.format(record))
        for record in caplog.records
        if record.name == "portal_proxy.access"
    ]


async def test_one_json_line_per_request_of_every_kind(
    gateway_factory: GatewayFactory,
    session: aiohttp.ClientSession,
    access_log: pytest.LogCaptureFixture,
) -> None:
    gw = await gateway_factory("mock", log_format="json")
    route = gw.route(1)
    async with session.post(route, data=b'{"ID": 11}', headers=TOKEN_HEADERS) as response:
        assert response.status == 201
    async with session.post(route, data=b'{"ID": 11}') as response:
        assert response.status == 401  # no credentials, wrong Content-Type: two violations
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    async with session.options(route, headers=preflight) as response:
        assert response.status == 204
    async with session.get(gw.url + "/__proxy/health") as response:
        assert response.status == 200
    lines = json_lines(access_log)
    assert [set(line) >= KEYS for line in lines] == [True] * 4
    seen = [
        (line["method"], line["path"], line["status"], line["source"], line["violations"])
        for line in lines
    ]
    path = "/portal-api/products/1/client_types"
    assert seen == [
        ("POST", path, 201, "mock", 0),
        ("POST", path, 401, "mock", 2),
        ("OPTIONS", path, 204, "gateway", 0),
        ("GET", "/__proxy/health", 200, "gateway", 0),
    ]
    assert all(isinstance(line["duration_ms"], float) for line in lines)
    assert str(lines[0]["time"]).endswith("Z")


async def test_text_line(
    gateway_factory: GatewayFactory,
    session: aiohttp.ClientSession,
    access_log: pytest.LogCaptureFixture,
) -> None:
    gw = await gateway_factory("mock")
    async with session.post(gw.url + "/portal-api/nowhere", data=b"{}") as response:
        assert response.status == 404
    [record] = [r for r in access_log.records if r.name == "portal_proxy.access"]
    message = record.getMessage()
    assert message.startswith("POST /portal-api/nowhere 404 gateway ")
    assert message.endswith("ms violations=0")


async def test_secret_query_parameters_are_redacted_and_headers_never_logged(
    gateway_factory: GatewayFactory,
    session: aiohttp.ClientSession,
    access_log: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    document = yaml.safe_load(shipped_spec_path().read_text())
    schemes = document["components"]["securitySchemes"]
    schemes["QueryKey"] = {"type": "apiKey", "in": "query", "name": "api_key"}
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(document))
    gw = await gateway_factory("mock", spec=spec, log_format="json")
    headers = {**TOKEN_HEADERS, "Authorization": "header-secret", "Cookie": "s=cookie-secret"}
    url = gw.route(1) + "?api_key=query-secret&page=2"
    async with session.post(url, data=b'{"ID": 11}', headers=headers) as response:
        assert response.status == 201
    [line] = json_lines(access_log)
    assert line["path"] == "/portal-api/products/1/client_types?api_key=REDACTED&page=2"
    assert "secret" not in access_log.text
    assert "secret" not in orjson.dumps(line).decode()


async def test_access_log_off_writes_nothing(
    gateway_factory: GatewayFactory,
    session: aiohttp.ClientSession,
    access_log: pytest.LogCaptureFixture,
) -> None:
    gw = await gateway_factory("mock", access_log="off")
    async with session.post(gw.route(1), data=b'{"ID": 11}', headers=TOKEN_HEADERS) as response:
        assert response.status == 201
    async with session.get(gw.url + "/__proxy/health") as response:
        assert response.status == 200
    assert not [r for r in access_log.records if r.name == "portal_proxy.access"]


async def test_an_in_process_gateway_leaves_the_test_output_alone(
    gateway_factory: GatewayFactory,
    session: aiohttp.ClientSession,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # As the pytest plugin runs it: nobody configured logging, so nothing reaches stderr.
    gw = await gateway_factory("mock")
    async with session.post(gw.route(1), data=b'{"ID": 11}', headers=TOKEN_HEADERS) as response:
        assert response.status == 201
    assert "portal_proxy.access" not in capfd.readouterr().err


def test_the_process_logs_each_request_on_stderr(tmp_path: Path) -> None:
    err = tmp_path / "stderr.log"
    args = command("mock", "--port", "0", "--log-format", "json", "--cassette-dir", str(tmp_path))
    with running(args, stderr=err) as process:
        for _ in range(2):
            request = urllib.request.Request(
                process.url + "/portal-api/products/1/client_types",
                data=b'{"ID": 11}',
                headers=TOKEN_HEADERS,
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 201
        assert process.stop(signal.SIGTERM) == 0
    lines = [orjson.loads(line) for line in err.read_text().splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "portal_proxy.access"]
    assert [(line["method"], line["status"], line["source"]) for line in access] == [
        ("POST", 201, "mock")
    ] * 2
