"""The compiled fast path must agree with jsonschema (Draft 2020-12, ECMA patterns) exactly."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.fastcheck import compile_check, json_equal
from proxy.patterns import make_validator
from proxy.spec import Spec, shipped_spec_path
from tests.conftest import FULL_SPEC

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["2023-06-23 21:02", "2023-06-23 21:02\n", "pkce", "web", "bogus", ""])
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["ID", "Name", "GrantType", "CreatedAt", "errors", "x"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=10,
)

SCHEMAS: list[dict[str, Any]] = [
    {"type": "integer"},
    {"type": ["string", "null"], "minLength": 2, "maxLength": 4},
    {"enum": [1, "a", None, True]},
    {"const": 1},
    {"type": "number", "minimum": 0, "exclusiveMaximum": 10},
    {"type": "array", "items": {"type": "integer"}, "minItems": 1, "uniqueItems": True},
    {
        "type": "object",
        "required": ["ID"],
        "additionalProperties": False,
        "properties": {"ID": {"type": "integer"}},
    },
    {"anyOf": [{"type": "string"}, {"type": "integer"}]},
    {"oneOf": [{"type": "number"}, {"type": "integer"}]},
    {"allOf": [{"type": "object"}, {"properties": {"x": {"pattern": "^\\d+$"}}}]},
    {"type": "object", "minProperties": 1, "maxProperties": 2},
]


def spec_schemas() -> list[Any]:
    found = []
    paths = [shipped_spec_path()] + ([FULL_SPEC] if FULL_SPEC.exists() else [])
    for path in paths:
        spec = Spec.load(path)
        for operation in spec.operations:
            for media_types in [operation.request_body, *operation.responses.values()]:
                found.extend(m.validator for m in media_types if m.validator is not None)
    return found


COMPILED = spec_schemas()


@settings(max_examples=300, deadline=None)
@given(index=st.integers(min_value=0, max_value=len(SCHEMAS) - 1), value=json_values)
def test_handwritten_schemas_agree_with_jsonschema(index: int, value: Any) -> None:
    schema = SCHEMAS[index]
    check = compile_check(schema)
    assert check is not None
    assert check(value) == make_validator(schema).is_valid(value)


@settings(max_examples=400, deadline=None)
@given(index=st.integers(min_value=0, max_value=len(COMPILED) - 1), value=json_values)
def test_spec_schemas_agree_with_jsonschema(index: int, value: Any) -> None:
    compiled = COMPILED[index]
    assert compiled.is_valid(value) == compiled.validator.is_valid(value)


def test_most_spec_schemas_take_the_fast_path() -> None:
    fast = sum(1 for c in COMPILED if c._fast is not None)
    assert fast / len(COMPILED) > 0.9


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (1, 1.0, True),
        (True, 1, False),
        (0, False, False),
        ([1, {"a": 2}], [1.0, {"a": 2}], True),
        ("1", 1, False),
        (None, None, True),
    ],
)
def test_json_equality(a: Any, b: Any, equal: bool) -> None:
    assert json_equal(a, b) is equal


def test_unknown_keywords_are_left_to_jsonschema() -> None:
    assert compile_check({"type": "object", "dependentRequired": {"a": ["b"]}}) is None
    assert compile_check({"multipleOf": 2}) is None
