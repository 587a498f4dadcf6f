"""A fast yes/no check for the JSON Schema subset OpenAPI documents use, compiled once.

python-jsonschema spends ~50 us deciding that `{"ID": 11}` is valid; the route itself costs
less. So every schema is also compiled into nested closures for the keywords below, used as
the `is_valid` fast path. Only a failure (or a schema using any other keyword) goes to
jsonschema, which then produces the error messages. Semantics follow Draft 2020-12:
`integer` accepts 1.0, booleans are not numbers, `enum`/`const` compare as JSON (true != 1),
lengths count code points, and `pattern` is ECMA-262 (regress).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from proxy.patterns import ecma_regex

Check = Callable[[Any], bool]

#: Keywords that never affect validity (annotations, OpenAPI extras).
_ANNOTATIONS = frozenset(
    {
        "$comment", "$schema", "$id", "$anchor", "title", "description", "example", "examples",
        "default", "deprecated", "readOnly", "writeOnly", "format", "xml", "externalDocs",
        "discriminator", "contentMediaType", "contentEncoding", "nullable",
    }
)  # fmt: skip
_HANDLED = frozenset(
    {
        "type", "enum", "const", "properties", "required", "additionalProperties", "items",
        "minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum",
        "exclusiveMinimum", "exclusiveMaximum", "pattern", "allOf", "anyOf", "oneOf",
        "minProperties", "maxProperties", "uniqueItems",
    }
)  # fmt: skip


class UnsupportedError(Exception):
    """The schema uses a keyword this compiler does not handle: use jsonschema alone."""


def compile_check(schema: Any) -> Check | None:
    """A predicate equivalent to Draft 2020-12 validity, or None when not compilable."""
    try:
        return _compile(schema)
    except UnsupportedError:
        return None


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value) and value.is_integer()


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    # Decimal: a JSON number beyond a double (proxy.validation.parse_json).
    "number": lambda v: isinstance(v, int | float | Decimal) and not isinstance(v, bool),
    "integer": _is_int,
}


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON Schema means it: booleans are not numbers; 1 == 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _compile(schema: Any) -> Check:
    if schema is True or schema == {}:
        return lambda value: True
    if schema is False:
        return lambda value: False
    if not isinstance(schema, Mapping):
        raise UnsupportedError(repr(schema))
    unknown = set(schema) - _HANDLED - _ANNOTATIONS
    if unknown or any(key.startswith("$ref") for key in schema):
        raise UnsupportedError(", ".join(sorted(unknown)))
    checks: list[Check] = []
    kind = schema.get("type")
    if kind is not None:
        kinds = [kind] if isinstance(kind, str) else list(kind)
        tests = [_TYPES[k] for k in kinds if k in _TYPES]
        if len(tests) != len(kinds):
            raise UnsupportedError(f"type {kind!r}")
        checks.append(tests[0] if len(tests) == 1 else lambda v: any(t(v) for t in tests))
    if "enum" in schema:
        checks.append(_enum(list(schema["enum"])))
    if "const" in schema:
        const = schema["const"]
        checks.append(lambda v: json_equal(v, const))
    checks.extend(_object_checks(schema))
    checks.extend(_array_checks(schema))
    checks.extend(_scalar_checks(schema))
    for keyword in ("allOf", "anyOf", "oneOf"):
        if keyword in schema:
            checks.append(_combine(keyword, [_compile(part) for part in schema[keyword]]))
    if not checks:
        return lambda value: True
    if len(checks) == 1:
        return checks[0]
    return lambda value: all(check(value) for check in checks)


def _combine(keyword: str, parts: list[Check]) -> Check:
    if keyword == "allOf":
        return lambda v: all(p(v) for p in parts)
    if keyword == "anyOf":
        return lambda v: any(p(v) for p in parts)
    return lambda v: sum(1 for p in parts if p(v)) == 1


def _bound(compare: Callable[[Any, Any], bool], bound: float) -> Check:
    number = _TYPES["number"]
    return lambda v: not number(v) or compare(v, bound)


def _enum(options: list[Any]) -> Check:
    if all(isinstance(o, str) for o in options):
        allowed = frozenset(options)
        return lambda v: isinstance(v, str) and v in allowed
    return lambda v: any(json_equal(v, option) for option in options)


def _object_checks(schema: Mapping[str, Any]) -> list[Check]:
    checks: list[Check] = []
    properties = {key: _compile(sub) for key, sub in (schema.get("properties") or {}).items()}
    extra = schema.get("additionalProperties", True)
    extra_check = None if extra is True else _compile(extra)
    if properties or extra_check is not None:

        def members(value: Any) -> bool:
            if not isinstance(value, dict):
                return True
            for key, item in value.items():
                check = properties.get(key)
                if check is not None:
                    if not check(item):
                        return False
                elif extra_check is not None and not extra_check(item):
                    return False
            return True

        checks.append(members)
    required = list(schema.get("required") or [])
    if required:
        checks.append(lambda v: not isinstance(v, dict) or all(k in v for k in required))
    low, high = schema.get("minProperties"), schema.get("maxProperties")
    if low is not None:
        checks.append(lambda v: not isinstance(v, dict) or len(v) >= low)
    if high is not None:
        checks.append(lambda v: not isinstance(v, dict) or len(v) <= high)
    return checks


def _array_checks(schema: Mapping[str, Any]) -> list[Check]:
    checks: list[Check] = []
    if "items" in schema:
        item = _compile(schema["items"])
        checks.append(lambda v: not isinstance(v, list) or all(item(x) for x in v))
    low, high = schema.get("minItems"), schema.get("maxItems")
    if low is not None:
        checks.append(lambda v: not isinstance(v, list) or len(v) >= low)
    if high is not None:
        checks.append(lambda v: not isinstance(v, list) or len(v) <= high)
    if schema.get("uniqueItems"):
        checks.append(
            lambda v: (
                not isinstance(v, list)
                or all(not json_equal(a, b) for i, a in enumerate(v) for b in v[i + 1 :])
            )
        )
    return checks


def _scalar_checks(schema: Mapping[str, Any]) -> list[Check]:
    checks: list[Check] = []
    low, high = schema.get("minLength"), schema.get("maxLength")
    if low is not None:
        checks.append(lambda v: not isinstance(v, str) or len(v) >= low)
    if high is not None:
        checks.append(lambda v: not isinstance(v, str) or len(v) <= high)
    if "pattern" in schema:
        try:
            regex = ecma_regex(str(schema["pattern"]))
        except Exception as exc:  # an invalid pattern: let jsonschema report it
            raise UnsupportedError("pattern") from exc
        checks.append(lambda v: not isinstance(v, str) or regex.find(v) is not None)
    bounds: list[tuple[str, Callable[[Any, Any], bool]]] = [
        ("minimum", lambda v, b: v >= b),
        ("maximum", lambda v, b: v <= b),
        ("exclusiveMinimum", lambda v, b: v > b),
        ("exclusiveMaximum", lambda v, b: v < b),
    ]
    for keyword, compare in bounds:
        if keyword in schema:
            bound = schema[keyword]
            if not isinstance(bound, int | float) or isinstance(bound, bool):
                raise UnsupportedError(keyword)
            checks.append(_bound(compare, bound))
    return checks
