"""`proxy.synth`: the mock's answers (spec examples, echoed fields, current time, `Prefer`),
all valid against the spec.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.spec import Spec, shipped_spec_path
from proxy.validation import validate_response
from tests.conftest import (
    Running,
)

AUTH = "test-token"
JSON = "application/json"


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
