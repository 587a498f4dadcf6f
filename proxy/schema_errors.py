"""jsonschema's errors as violations: one per failing leaf, with a message naming the field."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from proxy.jsonout import dumps as dumps_json
from proxy.operations import CompiledSchema
from proxy.violations import Violation, location_text, violation

if TYPE_CHECKING:
    from jsonschema import ValidationError


def describe_location(location: list[str | int]) -> str:
    """`["response", "body", "GrantType"]` -> `response body property GrantType` (prose for
    a message; `proxy.violations.location_text` is the short form)."""
    head = location_text(location[:2], " ")
    rest = location[2:]
    return f"{head} property {location_text(rest)}" if rest else head


def short(value: Any, limit: int = 60) -> str:
    """A value as a message quotes it: JSON, cut at `limit` characters."""
    try:
        text = dumps_json(value, non_str_keys=True).decode()
    except TypeError:  # an integer beyond 64 bits
        text = json.dumps(value, default=repr)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def schema_violations(
    validator: CompiledSchema, instance: Any, location: list[str | int]
) -> list[Violation]:
    """Schema errors as violations; fast path `is_valid` first, messages only on failure."""
    if validator.is_valid(instance):
        return []
    found: list[Violation] = []
    for error in _leaf_errors(validator.iter_errors(instance)):
        where = [*location, *error.absolute_path]
        found.append(violation(where, str(error.validator), _message(error, where)))
    return found


def _leaf_errors(errors: Iterable[ValidationError]) -> Iterable[ValidationError]:
    # `$ref`, `allOf`, `anyOf` wrap the keyword that really failed; report that keyword,
    # except for anyOf/oneOf whose branches each failed (their context is the alternatives).
    for error in errors:
        if error.validator in ("$ref", "allOf") and error.context:
            yield from _leaf_errors(error.context)
        else:
            yield error


def _message(error: ValidationError, where: list[str | int]) -> str:
    subject = describe_location(where)
    keyword = str(error.validator)
    expected: Any = error.validator_value
    got = short(error.instance)
    if keyword == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return f"{subject} must be {wanted}, got {got}"
    if keyword == "enum":
        allowed = ", ".join(str(v) for v in expected)
        return f"{subject} must be one of: {allowed}; got {got}"
    if keyword == "const":
        return f"{subject} must be {short(expected)}, got {got}"
    if keyword == "pattern":
        return f"{subject} must match pattern {expected}, got {got}"
    if keyword == "required":
        return f"{subject} {error.message}"
    if keyword == "additionalProperties":
        return f"{subject} has unexpected properties: {error.message}"
    return f"{subject}: {error.message}"
