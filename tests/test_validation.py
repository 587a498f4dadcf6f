"""Tests for proxy.validation's JSON verdicts: what a standards reader (RFC 8259) agrees with."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
import pytest

from proxy.validation import parse_json
from tests.conftest import TOKEN_HEADERS, Running


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


async def post(gateway: Running, session: aiohttp.ClientSession, body: bytes) -> tuple[int, Any]:
    async with session.post(gateway.route(1), data=body, headers=TOKEN_HEADERS) as response:
        json.loads(await response.read())  # whatever the verdict, the answer is JSON
        return response.status, json.loads(response.headers.get("sl-violations", "[]"))


async def test_a_duplicate_key_is_a_warning_naming_it(
    mock_gateway: Running, session: aiohttp.ClientSession
) -> None:
    status, found = await post(mock_gateway, session, b'{"ID": "x", "ID": 7}')
    assert status == 201  # the last value (7) is what the schema judged
    assert [(v["severity"], v["code"], v["location"]) for v in found] == [
        ("Warning", "duplicateKey", ["request", "body"])
    ]
    assert "'ID'" in found[0]["message"]
    assert "not valid JSON" not in found[0]["message"]


async def test_1e400_is_a_number_judged_by_the_schema(
    mock_gateway: Running, session: aiohttp.ClientSession
) -> None:
    status, found = await post(mock_gateway, session, b'{"ID": 1E400}')
    assert (status, found) == (201, [])  # an integer, as the schema asks
    status, found = await post(mock_gateway, session, b'{"ID": 1' + b"0" * 400 + b".5}")
    assert status == 422
    assert [(v["code"], v["location"]) for v in found] == [("type", ["request", "body", "ID"])]
    assert "infinity" not in orjson.dumps(found).decode()
