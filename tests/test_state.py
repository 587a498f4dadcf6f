"""The stateful mock (`proxy.state`) over HTTP, on Tyk's whole spec and on the seed's.

Every answer is also checked against the spec's response schema for its status.
"""

from __future__ import annotations

import datetime
import io
import zipfile
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yaml

from proxy.settings import SettingsError, resolve
from proxy.spec import Spec
from proxy.validation import validate_response
from tests.conftest import FULL_SPEC, GatewayFactory, Running

pytestmark = pytest.mark.skipif(
    not FULL_SPEC.is_file(), reason=f"Tyk's whole spec is not at {FULL_SPEC}"
)

HEADERS = {"Authorization": "test-token", "Content-Type": "application/json"}
BASE = "/portal-api"
OAUTH_TYPE = {
    "Name": "Single page app",
    "Description": "Browser only",
    "ResponseTypes": "code",
    "GrantType": "pkce",
    "OktaAppType": "browser",
}


@pytest.fixture(scope="module")
def spec() -> Spec:
    return Spec.load(FULL_SPEC)


@pytest.fixture
async def portal(gateway_factory: GatewayFactory) -> Running:
    return await gateway_factory("mock", spec=FULL_SPEC)


async def call(
    session: aiohttp.ClientSession,
    spec: Spec,
    gateway: Running,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """Send a request; the answer must fit the spec; returns status and parsed JSON."""
    data = orjson.dumps(body) if body is not None else None
    async with session.request(
        method, gateway.url + BASE + path, data=data, headers=headers or HEADERS
    ) as response:
        payload = await response.read()
        route = spec.match(method, BASE + path.split("?")[0])
        if route is not None and route.operation is not None and response.status != 401:
            verdict = validate_response(route.operation, response.status, response.headers, payload)
            assert verdict == [], (method, path, response.status, payload)
        kind = response.headers.get("Content-Type", "")
        return response.status, orjson.loads(payload) if "json" in kind else payload


async def test_attach_list_get_detach_on_the_whole_spec(
    portal: Running, session: aiohttp.ClientSession, spec: Spec
) -> None:
    client_types = "/products/1/client_types"
    assert (await call(session, spec, portal, "POST", client_types, {"ID": 5}))[0] == 201
    # Attaching again answers 201 again; the list shows it once.
    status, again = await call(session, spec, portal, "POST", client_types, {"ID": 5})
    assert status == 201 and again["ID"] == 5
    status, listed = await call(session, spec, portal, "GET", client_types)
    assert status == 200 and [item["ID"] for item in listed] == [5]
    assert set(listed[0]) == {"ID", "Name"}  # ProductClientTypeList items
    status, item = await call(session, spec, portal, "GET", f"{client_types}/5")
    assert status == 200 and item["ID"] == 5
    status, deleted = await call(session, spec, portal, "DELETE", f"{client_types}/5")
    assert (status, deleted) == (200, {"status": "ok"})
    # Gone: each operation's own documented 404 (GET: Status, DELETE: OnlyErrors).
    status, missing = await call(session, spec, portal, "GET", f"{client_types}/5")
    assert status == 404 and set(missing) == {"status"}
    status, missing = await call(session, spec, portal, "DELETE", f"{client_types}/5")
    assert status == 404 and "5 was deleted" in missing["errors"][0]
    assert await call(session, spec, portal, "GET", client_types) == (200, [])
    # Another product's client types are another collection.
    status, other = await call(session, spec, portal, "GET", "/products/2/client_types")
    assert status == 200 and other != []


async def test_oauth_client_type_created_updated_and_linked_to_a_product(
    portal: Running, session: aiohttp.ClientSession, spec: Spec
) -> None:
    types = "/oauth-providers/3/client-types"
    status, created = await call(session, spec, portal, "POST", types, OAUTH_TYPE)
    assert status == 200
    new_id = created["ID"]
    assert created["Name"] == "Single page app"
    status, second = await call(session, spec, portal, "POST", types, OAUTH_TYPE)
    assert second["ID"] != new_id  # server-set ids are unique per collection
    update = {**OAUTH_TYPE, "Description": "Updated", "UpdatedAt": "2020-01-01 00:00"}
    status, updated = await call(session, spec, portal, "PUT", f"{types}/{new_id}", update)
    assert status == 200 and updated["Description"] == "Updated"
    # UpdatedAt is the server's: now, not what the client sent; CreatedAt stays.
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    moved = datetime.datetime.strptime(updated["UpdatedAt"], "%Y-%m-%d %H:%M")
    assert abs((now - moved).total_seconds()) < 120
    assert updated["CreatedAt"] == created["CreatedAt"]
    status, shown = await call(session, spec, portal, "GET", f"{types}/{new_id}")
    assert shown["Description"] == "Updated"
    # Attached to a product by its ID: the product's list and item show what it is.
    product = "/products/7/client_types"
    status, attached = await call(session, spec, portal, "POST", product, {"ID": new_id})
    assert status == 201
    expected = {"Name": "Single page app", "Description": "Updated", "GrantType": "pkce"}
    assert {k: attached[k] for k in expected} == expected
    assert attached["OktaAppType"] == "browser"
    status, item = await call(session, spec, portal, "GET", f"{product}/{new_id}")
    assert {k: item[k] for k in expected} == expected
    assert (await call(session, spec, portal, "GET", product))[1] == [
        {"ID": new_id, "Name": "Single page app"}
    ]
    assert (await call(session, spec, portal, "DELETE", f"{types}/{new_id}"))[0] == 200
    assert (await call(session, spec, portal, "GET", f"{types}/{new_id}"))[0] == 404
    listed = (await call(session, spec, portal, "GET", types))[1]
    assert [entry["ID"] for entry in listed] == [second["ID"]]


async def test_an_id_never_seen_is_synthesized_with_that_id(
    portal: Running, session: aiohttp.ClientSession, spec: Spec
) -> None:
    status, item = await call(session, spec, portal, "GET", "/products/1/client_types/77")
    assert status == 200 and item["ID"] == 77
    # An untouched collection lists the spec's example, so a first screen has rows.
    status, listed = await call(session, spec, portal, "GET", "/catalogues")
    assert status == 200 and len(listed) >= 1


async def test_pagination_and_a_deleted_parent(
    portal: Running, session: aiohttp.ClientSession, spec: Spec
) -> None:
    for client_type in (1, 2, 3):
        await call(session, spec, portal, "POST", "/products/4/client_types", {"ID": client_type})
    page = "/products/4/client_types?per_page=2&page=2"
    assert (await call(session, spec, portal, "GET", page))[1] == [{"ID": 3, "Name": "foo"}]
    assert (await call(session, spec, portal, "DELETE", "/products/4"))[0] == 200
    status, body = await call(session, spec, portal, "GET", "/products/4/client_types/1")
    assert (status, body) == (404, {"status": "error"})  # GET's 404 is `Status`
    status, body = await call(session, spec, portal, "DELETE", "/products/4/client_types/1")
    assert status == 404 and "parent was deleted" in body["errors"][0]


async def test_a_wrapped_listing_and_server_set_ids(
    portal: Running, session: aiohttp.ClientSession, spec: Spec
) -> None:
    # Plans list as `{"data": [...]}`; a create's ID is the server's (the request has none).
    sent = {"ID": 99, "Name": "p", "ProviderID": 1}
    status, plan = await call(session, spec, portal, "POST", "/plans", sent)
    assert status == 200 and plan["ID"] != 99
    status, listed = await call(session, spec, portal, "GET", "/plans")
    assert status == 200 and [entry["ID"] for entry in listed["data"]] == [plan["ID"]]
    assert (await call(session, spec, portal, "DELETE", f"/plans/{plan['ID']}"))[0] == 200
    assert (await call(session, spec, portal, "GET", f"/plans/{plan['ID']}"))[0] == 404
    assert (await call(session, spec, portal, "GET", "/plans"))[1]["data"] == []


async def test_admin_state_shows_and_resets(
    gateway_factory: GatewayFactory, session: aiohttp.ClientSession, spec: Spec
) -> None:
    gateway = await gateway_factory("mock", spec=FULL_SPEC, admin_token="s3cret")
    admin = {"Authorization": "Bearer s3cret"}
    await call(session, spec, gateway, "POST", "/products/1/client_types", {"ID": 5})
    await call(session, spec, gateway, "DELETE", "/products/1/client_types/6")
    async with session.get(gateway.url + "/__proxy/state") as response:
        assert response.status == 401
    async with session.get(gateway.url + "/__proxy/state", headers=admin) as response:
        state = await response.json()
    [collection] = state["collections"]
    assert collection["path"] == "/products/1/client_types"
    assert [item["ID"] for item in collection["items"]] == [5]
    assert collection["deleted"] == ["6"]
    async with session.delete(gateway.url + "/__proxy/state", headers=admin) as response:
        assert response.status == 200
        assert (await response.json())["collections"] == []
    # The reset forgets deletions too: the id is synthesized again.
    status, item = await call(session, spec, gateway, "GET", "/products/1/client_types/6")
    assert status == 200 and item["ID"] == 6
    async with session.delete(gateway.url + "/__proxy/health", headers=admin) as response:
        assert response.status == 405  # DELETE is for the state only
    async with session.post(gateway.url + "/__proxy/state", headers=admin) as response:
        assert response.status == 405
        assert response.headers["Allow"] == "GET, HEAD, DELETE"


async def test_state_limit_answers_507_and_nothing_else_breaks(
    gateway_factory: GatewayFactory, session: aiohttp.ClientSession, spec: Spec
) -> None:
    gateway = await gateway_factory("mock", spec=FULL_SPEC, state_limit=2)
    route = gateway.url + BASE + "/products/1/client_types"
    for client_type in (1, 2):
        assert (
            await call(
                session, spec, gateway, "POST", "/products/1/client_types", {"ID": client_type}
            )
        )[0] == 201
    async with session.post(route, json={"ID": 3}, headers=HEADERS) as response:
        assert response.status == 507
        assert response.content_type == "application/problem+json"
        problem = await response.json()
    assert problem["type"].endswith("state-full") and "--state-limit 2" in problem["detail"]
    # Re-attaching a kept one, reading, and another product: all still work.
    assert (await call(session, spec, gateway, "POST", "/products/1/client_types", {"ID": 2}))[
        0
    ] == 201
    assert len((await call(session, spec, gateway, "GET", "/products/1/client_types"))[1]) == 2
    assert (await call(session, spec, gateway, "POST", "/products/2/client_types", {"ID": 3}))[
        0
    ] == 201


async def test_state_off_is_stateless(
    gateway_factory: GatewayFactory, session: aiohttp.ClientSession, spec: Spec
) -> None:
    gateway = await gateway_factory("mock", spec=FULL_SPEC, state="off")
    await call(session, spec, gateway, "DELETE", "/products/1/client_types/11")
    status, _ = await call(session, spec, gateway, "GET", "/products/1/client_types/11")
    assert status == 200
    async with session.get(gateway.url + "/__proxy/state") as response:
        assert response.status == 400


async def test_non_json_media_types_answer_that_type(
    portal: Running, session: aiohttp.ClientSession, spec: Spec
) -> None:
    status, jpeg = await call(session, spec, portal, "GET", "/products/1/logo")
    assert status == 200 and jpeg[:3] == b"\xff\xd8\xff" and jpeg.endswith(b"\xff\xd9")
    status, archive = await call(session, spec, portal, "GET", "/themes/1/download")
    assert status == 200 and zipfile.ZipFile(io.BytesIO(archive)).namelist() == []
    status, oas = await call(session, spec, portal, "GET", "/products/1/spec-details/1/oas")
    assert status == 200 and "openapi:" in yaml.safe_load(oas)  # a YAML string, as documented


async def test_errors_fit_each_operations_documented_schema(
    portal: Running, session: aiohttp.ClientSession, spec: Spec
) -> None:
    # The OAS download documents its 422 as a plain string: it stays a string.
    status, text = await call(session, spec, portal, "GET", "/products/x/spec-details/1/oas")
    assert status == 422 and isinstance(text, str) and "product_id" in text
    # The seed route's 422 is OnlyErrors.
    status, errors = await call(
        session, spec, portal, "POST", "/products/1/client_types", {"ID": "five"}
    )
    assert status == 422 and list(errors) == ["errors"]
    # The logo's 400 is text/plain.
    async with session.post(
        portal.url + BASE + "/products/1/logo",
        data=b"not a form",
        headers={**HEADERS, "Content-Type": "multipart/form-data; boundary=x"},
    ) as response:
        assert response.status == 400 and response.content_type == "text/plain"
    form = aiohttp.FormData()
    form.add_field("file", b"\xff\xd8\xff\xd9", filename="logo.jpg", content_type="image/jpeg")
    async with session.post(
        portal.url + BASE + "/products/1/logo", data=form, headers={"Authorization": "t"}
    ) as response:
        assert response.status == 200 and await response.json() == {"status": "ok"}


async def test_echo_fits_the_response_schema_at_every_depth(
    portal: Running, session: aiohttp.ClientSession, spec: Spec
) -> None:
    # The request's Plans are integers, the response's strings: not echoed, synthesized.
    sent = {"Plans": [1], "Name": "Kept"}
    status, catalogue = await call(session, spec, portal, "POST", "/catalogues", sent)
    assert status == 200 and all(isinstance(plan, str) for plan in catalogue["Plans"])
    assert catalogue["Name"] == "Kept"


def test_state_options(tmp_path: Path) -> None:
    assert resolve("mock", {}).state == "on"
    assert resolve("mock", {}, {"PORTAL_PROXY_STATE": "off"}).state == "off"
    assert resolve("mock", {"state_limit": "5"}).state_limit == 5
    with pytest.raises(SettingsError, match="--state"):
        resolve("mock", {"state": "maybe"})
    with pytest.raises(SettingsError, match="--state-limit"):
        resolve("mock", {"state_limit": "0"})
