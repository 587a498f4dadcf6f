"""The spec engine: loading, routing and validating, on the route's spec and Tyk's whole spec."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from multidict import CIMultiDict
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from proxy.spec import DOCUMENT_URI, Spec, SpecError, shipped_spec_path
from proxy.synth import synthesize
from proxy.validation import validate_request, validate_response
from tests.conftest import FULL_SPEC

needs_full_spec = pytest.mark.skipif(
    not FULL_SPEC.exists(), reason=f"Tyk's full portal spec is not at {FULL_SPEC}"
)


@pytest.fixture(scope="module")
def full() -> Spec:
    return Spec.load(FULL_SPEC)


def test_shipped_spec_maps_the_route() -> None:
    spec = Spec.load(shipped_spec_path())
    assert spec.base_path == "/portal-api"
    route = spec.match("POST", "/portal-api/products/5/client_types")
    assert route is not None and route.operation is not None
    assert route.operation.operation_id == "create-product-client-type"
    assert route.path_params == {"product_id": "5"}
    assert spec.match("POST", "/products/5/client_types") is None  # outside the base path
    assert spec.match("POST", "/portal-api/products/5") is None
    wrong = spec.match("GET", "/portal-api/products/5/client_types")
    assert wrong is not None and wrong.operation is None and wrong.allowed == ("POST",)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("a: [", "not valid YAML"),
        ("just text", "not an OpenAPI document"),
        ("openapi: 2.0\npaths: {}\n", r"expected `openapi: 3\.x`"),
    ],
)
def test_bad_spec_files_name_the_problem(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(content)
    with pytest.raises(SpecError, match=needle) as info:
        Spec.load(path)
    assert str(path) in str(info.value) or needle in str(info.value)


def test_missing_spec_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"nope\.yaml"):
        Spec.load(tmp_path / "nope.yaml")


REF_DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "paths": {},
    "components": {
        "schemas": {
            "a/b": {"type": "integer"},
            "x~y": {"type": "string"},
            "sp ace": {"type": "boolean"},
            "list": {"allOf": [{"type": "object"}, {"minProperties": 1}]},
            "": {"type": "null"},
        }
    },
}


@pytest.mark.parametrize(
    "ref",
    [
        "#",
        "#/components/schemas/a~1b",
        "#/components/schemas/x~0y",
        "#/components/schemas/sp%20ace",
        "#/components/schemas/list/allOf/1",
        "#/components/schemas/",
        "#/openapi/0",  # into a string, as `referencing` allows
        f"{DOCUMENT_URI}#/components/schemas/a~1b",  # not local: through `referencing`
    ],
)
def test_refs_resolve_as_referencing_resolves_them(ref: str) -> None:
    resolver = (
        Registry()
        .with_resource(DOCUMENT_URI, DRAFT202012.create_resource(REF_DOCUMENT))
        .resolver(DOCUMENT_URI)
    )
    assert Spec(REF_DOCUMENT).resolve({"$ref": ref}) == resolver.lookup(ref).contents


@pytest.mark.parametrize(
    "ref",
    [
        "#/components/schemas/nope",
        "#/components/schemas/list/allOf/9",
        "#/components/schemas/list/allOf/x",
        "#/components/schemas/a~1b/type/x",
        "#anchor",
        "other.yaml#/x",
    ],
)
def test_unresolvable_refs_are_named(ref: str) -> None:
    with pytest.raises(SpecError, match="cannot resolve") as info:
        Spec(REF_DOCUMENT).resolve({"$ref": ref})
    assert repr(ref) in str(info.value)


def test_loading_the_shipped_spec_imports_neither_referencing_nor_jsonschema() -> None:
    # Start-up does not pay for them: the spec's own $refs are followed without them.
    code = (
        "import sys\n"
        "from proxy.spec import Spec, shipped_spec_path\n"
        "spec = Spec.load(shipped_spec_path())\n"
        "assert spec.match('POST', '/portal-api/products/1/client_types') is not None\n"
        "early = [m for m in ('referencing', 'jsonschema') if m in sys.modules]\n"
        "assert not early, early\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@needs_full_spec
def test_full_portal_spec_loads_every_operation(full: Spec) -> None:
    assert len(full.document["paths"]) == 85
    assert len(full.operations) >= 85
    assert full.base_path == "/portal-api"
    ids = [op.operation_id for op in full.operations]
    assert len(ids) == len(set(ids))


@needs_full_spec
def test_every_operation_of_the_full_spec_validates_its_own_synthesized_responses(
    full: Spec,
) -> None:
    """Each documented JSON response, built from the spec, is valid for the spec: this runs
    every compiled validator (with its $refs) of all 85 paths at least once."""
    checked = 0
    for operation in full.operations:
        for status, media_types in operation.responses.items():
            if not status.isdigit():
                continue
            for media in media_types:
                if media.media_type != "application/json" or media.schema is None:
                    continue
                body = synthesize(media.schema)
                headers = CIMultiDict({"Content-Type": "application/json"})
                found = validate_response(operation, int(status), headers, orjson.dumps(body))
                assert found == [], (operation.operation_id, status, found)
                checked += 1
    assert checked > 150


@needs_full_spec
@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("GET", "/portal-api/users", "/users"),
        ("GET", "/portal-api/users/12", "/users/{user_id}"),
        ("POST", "/portal-api/products/3/client_types", "/products/{product_id}/client_types"),
        ("GET", "/portal-api/products/3/client_types", "/products/{product_id}/client_types"),
    ],
)
def test_full_spec_routing(full: Spec, method: str, path: str, template: str) -> None:
    route = full.match(method, path)
    assert route is not None and route.operation is not None
    assert route.operation.template == template


@needs_full_spec
def test_full_spec_request_and_response_violations(full: Spec) -> None:
    route = full.match("GET", "/portal-api/users/abc")
    assert route is not None and route.operation is not None
    found, _ = validate_request(route.operation, route.path_params, "", CIMultiDict(), b"")
    codes = sorted(str(v["code"]) for v in found)
    assert codes == ["401", "type"]
    user = full.match("GET", "/portal-api/users/1")
    assert user is not None and user.operation is not None
    headers = CIMultiDict({"Content-Type": "application/json"})
    bad = b'{"ID": "one", "CreatedAt": "2023-06-23T21:02:00Z", "Active": "yes"}'
    found = validate_response(user.operation, 200, headers, bad)
    assert sorted((tuple(v["location"]), v["code"]) for v in found) == [
        (("response", "body", "Active"), "type"),
        (("response", "body", "CreatedAt"), "pattern"),
        (("response", "body", "ID"), "type"),
    ]
