"""JSON Schema `pattern` with ECMA-262 semantics, as the JSON Schema spec requires.

python-jsonschema checks `pattern` with `re.search`, which differs from ECMA-262 where it
matters for dates and IDs: `\\d` matches any Unicode digit and `$` matches before a trailing
newline, so `"2023-06-23 21:02\\n"` would pass `^\\d{4}-...$`. We compile patterns with
`regress` (Rust's ECMA-262 engine) in Unicode mode instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import regress

if TYPE_CHECKING:
    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

__all__ = ["ecma_regex", "ecma_search", "make_validator", "validator_class"]


@lru_cache(maxsize=1024)
def ecma_regex(pattern: str) -> Any:
    """Compile an ECMA-262 pattern once (Unicode mode, the `u` flag)."""
    return regress.Regex(pattern, "u")


def ecma_search(pattern: str, text: str) -> bool:
    """True when `pattern` matches anywhere in `text`, with ECMA-262 semantics."""
    return ecma_regex(pattern).find(text) is not None


def _pattern(
    validator: Validator, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "string"):
        return
    from jsonschema import ValidationError

    try:
        matched = ecma_search(pattern, instance)
    except regress.RegressError as exc:
        yield ValidationError(f"invalid pattern {pattern!r} in the schema: {exc}")
        return
    if not matched:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: Mapping[str, Any], instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if ecma_search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


@lru_cache(maxsize=1)
def validator_class() -> type[Validator]:
    """Draft 2020-12, as OpenAPI 3.1 uses it, with ECMA-262 `pattern` and `patternProperties`.

    Built on first use: jsonschema is only needed for error messages and for the schemas
    the compiled fast path (`proxy.fastcheck`) does not cover, so start-up does not pay for
    importing it.
    """
    from jsonschema import Draft202012Validator, validators

    extended: type[Validator] = validators.extend(  # type: ignore[no-untyped-call]
        Draft202012Validator,
        validators={"pattern": _pattern, "patternProperties": _pattern_properties},
    )
    return extended


def make_validator(schema: Any, **kwargs: Any) -> Validator:
    """A Draft 2020-12 validator (ECMA-262 patterns) for `schema`."""
    return validator_class()(schema, **kwargs)
