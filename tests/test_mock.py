"""`mock` mode over HTTP: the request table, synthesized bodies, Prefer, errors and headers."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import aiohttp
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.spec import Spec, shipped_spec_path
from proxy.validation import validate_response
from tests.conftest import Running, parametrize_table

AUTH = "test-token"
JSON = "application/json"

# (case, product id in the path, headers, raw body, status, expected violations as
#  (location, code) pairs; an empty list means the request is valid)
REQUESTS: list[tuple[str, str, dict[str, str], bytes, int, list[tuple[list[Any], Any]]]] = [
    ("valid", "1", {"Authorization": AUTH, "Content-Type": JSON}, b'{"ID": 11}', 201, []),
    ("empty object is valid", "1", {"Authorization": AUTH, "Content-Type": JSON}, b"{}", 201, []),
    (
        "extra field is allowed",
        "7",
        {"Authorization": AUTH, "Content-Type": JSON},
        b'{"ID": 3, "Other": true}',
        201,
        [],
    ),
    (
        "charset parameter",
        "1",
        {"Authorization": AUTH, "Content-Type": "application/json; charset=utf-8"},
        b'{"ID": 1}',
        201,
        [],
    ),
    (
        "large product id",
        "123456789012",
        {"Authorization": AUTH, "Content-Type": JSON},
        b'{"ID": 1}',
        201,
        [],
    ),
    (
        "negative ID is an integer",
        "1",
        {"Authorization": AUTH, "Content-Type": JSON},
        b'{"ID": -5}',
        201,
        [],
    ),
    (
        "ID 1.0 is an integer in JSON Schema",
        "1",
        {"Authorization": AUTH, "Content-Type": JSON},
        b'{"ID": 1.0}',
        201,
        [],
    ),
    (
        "whitespace around JSON",
        "1",
        {"Authorization": AUTH, "Content-Type": JSON},
        b'  \n{"ID": 2}\n',
        201,
        [],
    ),
    (
        "missing Authorization",
        "1",
        {"Content-Type": JSON},
        b'{"ID": 11}',
        401,
        [(["request"], 401)],
    ),
    (
        "empty Authorization",
        "1",
        {"Authorization": "", "Content-Type": JSON},
        b'{"ID": 11}',
        401,
        [(["request"], 401)],
    ),
    (
        "blank Authorization",
        "1",
        {"Authorization": "   ", "Content-Type": JSON},
        b'{"ID": 11}',
        401,
        [(["request"], 401)],
    ),
    (
        "product id abc",
        "abc",
        {"Authorization": AUTH, "Content-Type": JSON},
        b'{"ID": 11}',
        422,
        [(["request", "path", "product_id"], "type")],
    ),
    (
        "product id 1.5",
        "1.5",
        {"Authorization": AUTH, "Content-Type": JSON},
        b'{"ID": 11}',
        422,
        [(["request", "path", "product_id"], "type")],
    ),
    (
        "product id empty",
        "",
        {"Authorization": AUTH, "Content-Type": JSON},
        b'{"ID": 11}',
        422,
        [(["request", "path", "product_id"], "type")],
    ),
    (
        "product id Arabic-Indic digits",
        "%D9%A1",
        {"Authorization": AUTH, "Content-Type": JSON},
        b'{"ID": 11}',
        422,
        [(["request", "path", "product_id"], "type")],
    ),
    (
        "product id with space",
        "1%20",
        {"Authorization": AUTH, "Content-Type": JSON},
        b'{"ID": 11}',
        422,
        [(["request", "path", "product_id"], "type")],
    ),
    (
        "ID as string",
        "1",
        {"Authorization": AUTH, "Content-Type": JSON},
        b'{"ID": "11"}',
        422,
        [(["request", "body", "ID"], "type")],
    ),
    (
        "ID as float",
        "1",
        {"Authorization": AUTH, "Content-Type": JSON},
        b'{"ID": 1.5}',
        422,
        [(["request", "body", "ID"], "type")],
    ),
    (
        "ID null",
        "1",
        {"Authorization": AUTH, "Content-Type": JSON},
        b'{"ID": null}',
        422,
        [(["request", "body", "ID"], "type")],
    ),
    (
        "ID boolean",
        "1",
        {"Authorization": AUTH, "Content-Type": JSON},
        b'{"ID": true}',
        422,
        [(["request", "body", "ID"], "type")],
    ),
    (
        "body is an array",
        "1",
        {"Authorization": AUTH, "Content-Type": JSON},
        b"[1]",
        422,
        [(["request", "body"], "type")],
    ),
    (
        "body is a string",
        "1",
        {"Authorization": AUTH, "Content-Type": JSON},
        b'"x"',
        422,
        [(["request", "body"], "type")],
    ),
    (
        "not JSON",
        "1",
        {"Authorization": AUTH, "Content-Type": JSON},
        b"{ID: 11",
        422,
        [(["request", "body"], "contentMediaType")],
    ),
    (
        "truncated JSON",
        "1",
        {"Authorization": AUTH, "Content-Type": JSON},
        b'{"ID": 1',
        422,
        [(["request", "body"], "contentMediaType")],
    ),
    (
        "invalid UTF-8",
        "1",
        {"Authorization": AUTH, "Content-Type": JSON},
        b'{"ID": "\xff"}',
        422,
        [(["request", "body"], "contentMediaType")],
    ),
    (
        # The seed's requestBody is not `required`: an empty body is valid (a Warning says
        # the portal is likely to refuse it) and answered as `{}` is.
        "empty body",
        "1",
        {"Authorization": AUTH, "Content-Type": JSON},
        b"",
        201,
        [(["request", "body"], "required")],
    ),
    (
        "text/plain",
        "1",
        {"Authorization": AUTH, "Content-Type": "text/plain"},
        b'{"ID": 11}',
        422,
        [(["request", "header", "Content-Type"], 415)],
    ),
    (
        "form encoded",
        "1",
        {"Authorization": AUTH, "Content-Type": "application/x-www-form-urlencoded"},
        b"ID=11",
        422,
        [(["request", "header", "Content-Type"], 415)],
    ),
    (
        "no Content-Type",
        "1",
        {"Authorization": AUTH},
        b'{"ID": 11}',
        422,
        [(["request", "header", "Content-Type"], 415)],
    ),
    (
        "auth and body both wrong",
        "1",
        {"Content-Type": JSON},
        b'{"ID": "x"}',
        401,
        [(["request"], 401), (["request", "body", "ID"], "type")],
    ),
    (
        "path and body both wrong",
        "x",
        {"Authorization": AUTH, "Content-Type": JSON},
        b'{"ID": "x"}',
        422,
        [(["request", "path", "product_id"], "type"), (["request", "body", "ID"], "type")],
    ),
    (
        "deeply nested JSON",
        "1",
        {"Authorization": AUTH, "Content-Type": JSON},
        b"[" * 5000 + b"]" * 5000,
        422,
        [(["request", "body"], "contentMediaType")],
    ),
    (
        "huge integer ID is still an integer",
        "1",
        {"Authorization": AUTH, "Content-Type": JSON},
        b'{"ID": 123456789012345678901234567890}',
        201,
        [],
    ),
]


@parametrize_table(("product", "headers", "body", "status", "expected"), REQUESTS)
async def test_request_table(
    mock_gateway: Running,
    session: aiohttp.ClientSession,
    product: str,
    headers: dict[str, str],
    body: bytes,
    status: int,
    expected: list[tuple[list[Any], Any]],
) -> None:
    url = f"{mock_gateway.url}/portal-api/products/{product}/client_types"
    async with session.post(
        url, data=body, headers=headers, skip_auto_headers=["Content-Type"]
    ) as response:
        payload = await response.read()
        assert response.status == status, payload
        assert response.headers["X-Portal-Proxy-Source"] == "mock"
        found = json.loads(response.headers.get("sl-violations", "[]"))
    assert [(v["location"], v["code"]) for v in found] == expected
    for item in found:
        assert set(item) == {"location", "severity", "code", "message"}
        assert item["severity"] == ("Warning" if status == 201 else "Error")
    document = orjson.loads(payload)
    if status == 201:
        spec = Spec.load(shipped_spec_path())
        route = spec.match("POST", "/portal-api/products/1/client_types")
        assert route is not None and route.operation is not None
        assert validate_response(route.operation, 201, response.headers, payload) == []
    else:
        # The portal's own error shape (OnlyErrors): every message names its problem.
        assert set(document) == {"errors"}
        assert document["errors"] and all(isinstance(e, str) and e for e in document["errors"])


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b'{"ID": "11"}', "ID must be integer"),
        (b'{"ID": null}', "ID must be integer"),
        (b"{ID: 11", "not valid JSON"),
    ],
)
async def test_error_messages_name_the_field(
    mock_gateway: Running, session: aiohttp.ClientSession, body: bytes, needle: str
) -> None:
    headers = {"Authorization": AUTH, "Content-Type": JSON}
    async with session.post(mock_gateway.route(1), data=body, headers=headers) as response:
        document = await response.json()
    assert any(needle in message for message in document["errors"]), document


async def test_valid_request_gets_examples_echo_and_current_utc_time(
    mock_gateway: Running, session: aiohttp.ClientSession
) -> None:
    before = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    headers = {"Authorization": AUTH, "Content-Type": JSON}
    async with session.post(mock_gateway.route(9), json={"ID": 42}, headers=headers) as response:
        assert response.status == 201
        assert response.content_type == JSON
        assert "sl-violations" not in response.headers
        body = await response.json()
    after = dt.datetime.now(dt.UTC)
    # The spec's own examples, not Prism's first-enum-value guess ("browser").
    assert body["Name"] == "foo"
    assert body["Description"] == "Web application"
    assert body["GrantType"] == "authorization_code"
    assert body["OktaAppType"] == "web"
    assert body["ID"] == 42
    for key in ("CreatedAt", "UpdatedAt"):
        stamp = dt.datetime.strptime(body[key], "%Y-%m-%d %H:%M").replace(tzinfo=dt.UTC)
        assert before <= stamp <= after


async def test_prefer_code_picks_a_documented_status(
    mock_gateway: Running, session: aiohttp.ClientSession
) -> None:
    headers = {"Authorization": AUTH, "Content-Type": JSON, "Prefer": "code=422"}
    async with session.post(mock_gateway.route(1), json={"ID": 1}, headers=headers) as response:
        assert response.status == 422
        body = await response.json()
    assert isinstance(body["errors"], list)
    assert all(isinstance(e, str) for e in body["errors"])


async def test_prefer_undocumented_code_is_a_clear_gateway_error(
    mock_gateway: Running, session: aiohttp.ClientSession
) -> None:
    headers = {"Authorization": AUTH, "Content-Type": JSON, "Prefer": "code=418"}
    async with session.post(mock_gateway.route(1), json={"ID": 1}, headers=headers) as response:
        assert response.status == 400
        assert response.content_type == "application/problem+json"
        body = await response.json()
    assert "418" in body["detail"] and "201" in body["detail"]


async def test_prefer_example_names_unknown_example(
    mock_gateway: Running, session: aiohttp.ClientSession
) -> None:
    headers = {"Authorization": AUTH, "Content-Type": JSON, "Prefer": "example=nope"}
    async with session.post(mock_gateway.route(1), json={"ID": 1}, headers=headers) as response:
        assert response.status == 400
        body = await response.json()
    assert "nope" in body["detail"]


@pytest.mark.parametrize(
    ("method", "path", "status", "kind"),
    [
        ("POST", "/products/1/client_types", 404, "unknown-route"),
        ("POST", "/portal-api/products/1/client_type", 404, "unknown-route"),
        ("GET", "/", 404, "unknown-route"),
        ("GET", "/portal-api/products/1/client_types", 405, "method-not-allowed"),
        ("DELETE", "/portal-api/products/1/client_types", 405, "method-not-allowed"),
        ("PUT", "/portal-api/products/1/client_types", 405, "method-not-allowed"),
    ],
)
async def test_gateway_errors_are_problem_json(
    mock_gateway: Running,
    session: aiohttp.ClientSession,
    method: str,
    path: str,
    status: int,
    kind: str,
) -> None:
    async with session.request(method, mock_gateway.url + path) as response:
        assert response.status == status
        assert response.content_type == "application/problem+json"
        assert response.headers["X-Portal-Proxy-Source"] == "gateway"
        body = await response.json()
        if status == 405:
            assert response.headers["Allow"] == "POST"
    assert body["type"].endswith(kind)
    assert body["status"] == status
    assert method in body["detail"]


async def test_problem_types_are_distinct_per_kind(
    mock_gateway: Running, session: aiohttp.ClientSession
) -> None:
    async with session.get(mock_gateway.url + "/nope") as unknown:
        first = (await unknown.json())["type"]
    async with session.get(mock_gateway.route(1)) as wrong_method:
        second = (await wrong_method.json())["type"]
    assert first != second


async def test_health(mock_gateway: Running, session: aiohttp.ClientSession) -> None:
    async with session.get(mock_gateway.url + "/__proxy/health") as response:
        assert response.status == 200
        body = await response.json()
    assert body["status"] == "ok"
    assert body["mode"] == "mock"


_SPEC = Spec.load(shipped_spec_path())
_OPERATION = _SPEC.match("POST", "/portal-api/products/1/client_types")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    product=st.integers(min_value=0, max_value=2**53),
    body=st.fixed_dictionaries(
        {},
        optional={
            "ID": st.integers(min_value=-(2**63), max_value=2**63 - 1),
            "Name": st.text(max_size=20),
            "Extra": st.none() | st.booleans() | st.text(max_size=5),
        },
    ),
)
async def test_every_mock_response_is_spec_valid(
    mock_gateway: Running, session: aiohttp.ClientSession, product: int, body: dict[str, Any]
) -> None:
    """Property: for any valid request, the mock's answer validates against the spec."""
    assert _OPERATION is not None and _OPERATION.operation is not None
    headers = {"Authorization": AUTH, "Content-Type": JSON}
    async with session.post(mock_gateway.route(product), json=body, headers=headers) as response:
        payload = await response.read()
        assert response.status == 201, payload
        violations = validate_response(_OPERATION.operation, 201, response.headers, payload)
    assert violations == []
    if "ID" in body:
        assert orjson.loads(payload)["ID"] == body["ID"]
