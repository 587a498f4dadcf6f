"""`proxy.validation` over HTTP: requests and responses checked against the spec, the
`sl-violations` header, and bodies that are not what the spec says (4xx naming the problem).
"""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
import pytest

from proxy.spec import Spec, shipped_spec_path
from proxy.standin import Scripted
from proxy.validation import parse_json, validate_response
from tests.conftest import (
    FULL_SPEC,
    TOKEN_HEADERS,
    GatewayFactory,
    Running,
    StandinServer,
    parametrize_table,
)
from tests.payloads import BODIES, JSON_CT, body

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


# (case, status, headers, raw body, expected violations as (location, code, severity))
RESPONSES: list[tuple[str, int, list[tuple[str, str]], bytes, list[tuple[list[Any], Any, str]]]] = [
    ("valid", 201, JSON_CT, body(), []),
    ("extra field", 201, JSON_CT, body(Extra="x"), []),
    ("all optional fields omitted", 201, JSON_CT, b"{}", []),
    ("only ID", 201, JSON_CT, b'{"ID": 3}', []),
    ("charset parameter", 201, [("Content-Type", "application/json; charset=utf-8")], body(), []),
    ("each GrantType", 201, JSON_CT, body(GrantType="refresh_token"), []),
    ("each OktaAppType", 201, JSON_CT, body(OktaAppType="service"), []),
    (
        "GrantType bogus",
        201,
        JSON_CT,
        body(GrantType="bogus"),
        [(["response", "body", "GrantType"], "enum", "Error")],
    ),
    (
        "GrantType wrong case",
        201,
        JSON_CT,
        body(GrantType="PKCE"),
        [(["response", "body", "GrantType"], "enum", "Error")],
    ),
    (
        "OktaAppType bogus",
        201,
        JSON_CT,
        body(OktaAppType="spa"),
        [(["response", "body", "OktaAppType"], "enum", "Error")],
    ),
    (
        "CreatedAt with seconds",
        201,
        JSON_CT,
        body(CreatedAt="2023-06-23 21:02:00"),
        [(["response", "body", "CreatedAt"], "pattern", "Error")],
    ),
    (
        "CreatedAt RFC 3339",
        201,
        JSON_CT,
        body(CreatedAt="2023-06-23T21:02:00Z"),
        [(["response", "body", "CreatedAt"], "pattern", "Error")],
    ),
    (
        "CreatedAt date only",
        201,
        JSON_CT,
        body(CreatedAt="2023-06-23"),
        [(["response", "body", "CreatedAt"], "pattern", "Error")],
    ),
    (
        "CreatedAt trailing newline",
        201,
        JSON_CT,
        body(CreatedAt="2023-06-23 21:02\n"),
        [(["response", "body", "CreatedAt"], "pattern", "Error")],
    ),
    (
        "CreatedAt non-ASCII digits",
        201,
        JSON_CT,
        body(CreatedAt="\u0662023-06-23 21:02"),
        [(["response", "body", "CreatedAt"], "pattern", "Error")],
    ),
    (
        "UpdatedAt epoch number",
        201,
        JSON_CT,
        body(UpdatedAt=1687554120),
        [(["response", "body", "UpdatedAt"], "type", "Error")],
    ),
    ("ID as string", 201, JSON_CT, body(ID="11"), [(["response", "body", "ID"], "type", "Error")]),
    ("ID null", 201, JSON_CT, body(ID=None), [(["response", "body", "ID"], "type", "Error")]),
    ("Name null", 201, JSON_CT, body(Name=None), [(["response", "body", "Name"], "type", "Error")]),
    ("Name number", 201, JSON_CT, body(Name=5), [(["response", "body", "Name"], "type", "Error")]),
    ("body is an array", 201, JSON_CT, b"[]", [(["response", "body"], "type", "Error")]),
    ("body is null", 201, JSON_CT, b"null", [(["response", "body"], "type", "Error")]),
    (
        "two wrong fields",
        201,
        JSON_CT,
        body(GrantType="x", ID="y"),
        [
            (["response", "body", "ID"], "type", "Error"),
            (["response", "body", "GrantType"], "enum", "Error"),
        ],
    ),
    (
        "missing Content-Type",
        201,
        [],
        body(),
        [(["response", "header", "Content-Type"], 415, "Error")],
    ),
    (
        "text/html body",
        201,
        [("Content-Type", "text/html")],
        b"<h1>oops</h1>",
        [(["response", "header", "Content-Type"], 415, "Error")],
    ),
    ("not JSON", 201, JSON_CT, b"<html>", [(["response", "body"], "contentMediaType", "Error")]),
    ("empty body", 201, JSON_CT, b"", [(["response", "body"], "required", "Error")]),
    ("undocumented 200", 200, JSON_CT, body(), [(["response"], 200, "Error")]),
    ("undocumented 204", 204, [], b"", [(["response"], 204, "Error")]),
    ("undocumented 500", 500, JSON_CT, b'{"errors": ["boom"]}', [(["response"], 500, "Warning")]),
    (
        "undocumented 503 with Retry-After",
        503,
        [("Retry-After", "5")],
        b"",
        [(["response"], 503, "Warning")],
    ),
    (
        "undocumented 404",
        404,
        JSON_CT,
        b'{"errors": ["Product not found"]}',
        [(["response"], 404, "Warning")],
    ),
    ("valid 422", 422, JSON_CT, b'{"errors": ["Invalid payload"]}', []),
    (
        "422 with errors as a string",
        422,
        JSON_CT,
        b'{"errors": "bad"}',
        [(["response", "body", "errors"], "type", "Error")],
    ),
    (
        "422 with a non-string error",
        422,
        JSON_CT,
        b'{"errors": [1]}',
        [(["response", "body", "errors", 0], "type", "Error")],
    ),
    ("gzip valid", 201, [*JSON_CT, ("Content-Encoding", "gzip")], gzip.compress(body()), []),
    (
        "gzip invalid",
        201,
        [*JSON_CT, ("Content-Encoding", "gzip")],
        gzip.compress(body(GrantType="nope")),
        [(["response", "body", "GrantType"], "enum", "Error")],
    ),
]


@parametrize_table(("status", "headers", "raw", "expected"), RESPONSES)
async def test_upstream_response_table(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
    status: int,
    headers: list[tuple[str, str]],
    raw: bytes,
    expected: list[tuple[list[Any], Any, str]],
) -> None:
    standin.standin.script.append(Scripted(status, raw, headers))
    gw = await gateway_factory("proxy", upstream=standin.url)
    async with session.post(gw.route(1), json={"ID": 11}, headers=TOKEN_HEADERS) as response:
        got = await response.read()
        # Passed through unharmed: same status, same bytes, no invented Content-Type.
        assert response.status == status
        assert got == raw
        assert response.headers.get("Content-Type") == dict(headers).get("Content-Type")
        assert response.headers["X-Portal-Proxy-Source"] == "upstream"
        found = json.loads(response.headers.get("sl-violations", "[]"))
    assert [(v["location"], v["code"], v["severity"]) for v in found] == expected
    for item in found:
        assert item["message"]


@pytest.mark.skipif(not FULL_SPEC.exists(), reason="Tyk's full portal spec is not in ../shared")
async def test_full_spec_operations_are_validated_and_unknown_paths_warned(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
) -> None:
    standin.standin.script.append(Scripted(200, b'{"ID": "seven", "Email": "a@b.c"}', JSON_CT))
    standin.standin.script.append(Scripted(200, b"{}", JSON_CT))
    gw = await gateway_factory("proxy", upstream=standin.url, spec=FULL_SPEC)
    async with session.get(gw.url + "/portal-api/users/7", headers=TOKEN_HEADERS) as response:
        assert response.status == 200
        found = json.loads(response.headers["sl-violations"])
    assert [(v["location"], v["code"]) for v in found] == [(["response", "body", "ID"], "type")]
    async with session.get(gw.url + "/portal-api/not-in-spec", headers=TOKEN_HEADERS) as response:
        assert response.status == 200
        found = json.loads(response.headers["sl-violations"])
    assert [(v["location"], v["severity"]) for v in found] == [(["request"], "Warning")]
    assert [r.path_qs for r in standin.standin.received] == [
        "/portal-api/users/7",
        "/portal-api/not-in-spec",
    ]


@parametrize_table(("body", "content_type", "status", "needle"), BODIES)
async def test_hostile_bodies_get_a_4xx_naming_the_problem(
    gateway_factory: GatewayFactory,
    session: aiohttp.ClientSession,
    body: bytes,
    content_type: str | None,
    status: int,
    needle: str,
) -> None:
    gw = await gateway_factory("mock")
    headers = {"Authorization": "t"}
    if content_type:
        headers["Content-Type"] = content_type
    async with session.post(
        gw.route(1), data=body, headers=headers, skip_auto_headers=["Content-Type"]
    ) as response:
        assert response.status == status
        text = (await response.read()).decode()
    assert needle in text, text
    async with session.post(gw.route(1), json={"ID": 1}, headers=TOKEN_HEADERS) as response:
        assert response.status == 201  # still serving


# -- JSON verdicts a standards reader agrees with (duplicate keys, 1E400) -----------------


@pytest.mark.parametrize(
    ("raw", "value", "duplicate"),
    [
        (b'{"a": 1, "a": 2}', {"a": 2}, "a"),  # the last wins, as Go's encoding/json
        (b'{"a": {"b": 1, "b": [2]}, "c": 3}', {"a": {"b": [2]}, "c": 3}, "b"),
        (b'{"a": 1, "b": 2}', {"a": 1, "b": 2}, None),
        (b'{"a" : 1, "b" :2}', {"a": 1, "b": 2}, None),  # spaces defeat the fast count
        (b'{"x\\":": 1}', {'x":': 1}, None),  # `":` inside a key
        (b"1E400", 10**400, None),  # beyond a double: an exact integer
        (b"-1e400", -(10**400), None),
        (b'{"n": 1E400, "n": 2}', {"n": 2}, "n"),  # the slow path finds duplicates too
        (b"1.5", 1.5, None),
        (b"0.0", 0.0, None),
        (b"18446744073709551616", 2**64, None),  # beyond 64 bits
    ],
)
def test_parse_json_values_and_duplicates(raw: bytes, value: Any, duplicate: str | None) -> None:
    parsed = parse_json(raw)
    assert parsed.error is None
    assert parsed.value == value
    assert parsed.duplicate == duplicate


def test_a_fraction_beyond_a_double_stays_exact() -> None:
    parsed = parse_json(b"[1" + b"0" * 400 + b".5, 1e2]")
    assert parsed.value == [Decimal("1" + "0" * 400 + ".5"), 100.0]


@pytest.mark.parametrize("raw", [b"NaN", b"Infinity", b"[1,]", b'{"a" 1}', b"9" * 5000])
def test_what_is_not_json_is_still_refused(raw: bytes) -> None:
    assert parse_json(raw).error


async def post_body(
    gateway: Running, session: aiohttp.ClientSession, body: bytes
) -> tuple[int, Any]:
    async with session.post(gateway.route(1), data=body, headers=TOKEN_HEADERS) as response:
        json.loads(await response.read())  # whatever the verdict, the answer is JSON
        return response.status, json.loads(response.headers.get("sl-violations", "[]"))


async def test_a_duplicate_key_is_a_warning_naming_it(
    mock_gateway: Running, session: aiohttp.ClientSession
) -> None:
    status, found = await post_body(mock_gateway, session, b'{"ID": "x", "ID": 7}')
    assert status == 201  # the last value (7) is what the schema judged
    assert [(v["severity"], v["code"], v["location"]) for v in found] == [
        ("Warning", "duplicateKey", ["request", "body"])
    ]
    assert "'ID'" in found[0]["message"]
    assert "not valid JSON" not in found[0]["message"]


async def test_1e400_is_a_number_judged_by_the_schema(
    mock_gateway: Running, session: aiohttp.ClientSession
) -> None:
    status, found = await post_body(mock_gateway, session, b'{"ID": 1E400}')
    assert (status, found) == (201, [])  # an integer, as the schema asks
    status, found = await post_body(mock_gateway, session, b'{"ID": 1' + b"0" * 400 + b".5}")
    assert status == 422
    assert [(v["code"], v["location"]) for v in found] == [("type", ["request", "body", "ID"])]
    assert "infinity" not in orjson.dumps(found).decode()
