"""Fuzzing with hypothesis against the gateway's own spec, in `mock` and `replay` modes.

Any request at all: no 5xx, and every answer is either valid for the spec (a documented
status with a valid body) or a documented gateway error (401 `{"errors"}`, problem+json).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from proxy.spec import Spec, shipped_spec_path
from proxy.validation import validate_response
from tests.conftest import GatewayFactory, Running

SPEC = Spec.load(shipped_spec_path())
_ROUTE = SPEC.match("POST", "/portal-api/products/1/client_types")
assert _ROUTE is not None and _ROUTE.operation is not None
OPERATION = _ROUTE.operation

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()  # any integer size, unlike orjson


bodies = st.one_of(
    st.builds(_dumps, st.fixed_dictionaries({}, optional={"ID": json_values})),
    st.builds(_dumps, json_values),
    st.binary(max_size=64),
)
products = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(min_size=0, max_size=8),
)
headers = st.fixed_dictionaries(
    {},
    optional={
        "Authorization": st.sampled_from(["", " ", "token", "Bearer x"]),
        "Content-Type": st.sampled_from(
            ["application/json", "text/plain", "application/json; charset=utf-8", "*/*", ""]
        ),
        "Prefer": st.sampled_from(["code=422", "code=201", "code=999", "example=x", "junk"]),
    },
)
methods = st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "DELETE", "PATCH"])

GATEWAY_ERRORS = {400, 404, 405, 413}


def assert_documented(status: int, response_headers: Any, body: bytes) -> None:
    """The answer is spec-valid, or one of the gateway's documented errors."""
    assert status < 500, body
    content_type = response_headers.get("Content-Type", "")
    if status == 401:
        assert set(orjson.loads(body)) == {"errors"}
    elif content_type.startswith("application/problem+json"):
        assert status in GATEWAY_ERRORS
        problem = orjson.loads(body)
        assert problem["type"].startswith("urn:portal-proxy:problem:")
        assert problem["status"] == status
    else:
        found = validate_response(OPERATION, status, CIMultiDict(response_headers), body)
        assert [v for v in found if v["severity"] == "Error"] == [], (status, body, found)


async def fuzz_once(
    gw: Running,
    session: aiohttp.ClientSession,
    method: str,
    product: str,
    body: bytes,
    sent: dict[str, str],
) -> None:
    url = f"{gw.url}/portal-api/products/{quote(product, safe='')}/client_types"
    async with session.request(
        method, url, data=body, headers=sent, skip_auto_headers=["Content-Type"]
    ) as response:
        payload = await response.read()
        assert_documented(response.status, response.headers, payload)


FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


EXAMPLE_CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"


@pytest.fixture
async def replay_gateway(gateway_factory: GatewayFactory) -> Running:
    example = EXAMPLE_CASSETTES
    return await gateway_factory("replay", cassette="example", cassette_dir=example, on_miss="mock")


@FUZZ
@given(method=methods, product=products, body=bodies, sent=headers)
async def test_fuzz_replay_with_on_miss_mock(
    replay_gateway: Running,
    session: aiohttp.ClientSession,
    method: str,
    product: str,
    body: bytes,
    sent: dict[str, str],
) -> None:
    await fuzz_once(replay_gateway, session, method, product, body, sent)


@FUZZ
@given(method=methods, product=products, body=bodies, sent=headers)
async def test_fuzz_mock(
    mock_gateway: Running,
    session: aiohttp.ClientSession,
    method: str,
    product: str,
    body: bytes,
    sent: dict[str, str],
) -> None:
    await fuzz_once(mock_gateway, session, method, product, body, sent)
