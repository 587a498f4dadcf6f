"""A JSON body as the gateway reads it: parsed once, numbers exact, duplicate keys named.

orjson parses (fast); where it refuses what JSON allows (an integer beyond 64 bits, `1E400`)
the standard library parses exactly instead. A repeated object key keeps its last value, as
Go's encoding/json does, and is named so that validation can warn about it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from proxy.violations import Violation, violation

#: No value: a body that was absent, or a parameter that could not be read as its type.
NO_VALUE = object()


@dataclass(frozen=True, slots=True)
class ParsedBody:
    """A body as the gateway understood it: JSON value, or the reason it is not one.

    `duplicate`: the first object key the document repeats (the value is the last one's).
    """

    value: Any = NO_VALUE
    error: str | None = None
    duplicate: str | None = None

    @property
    def present(self) -> bool:
        """True when the body parsed to a JSON value."""
        return self.value is not NO_VALUE


#: An absent optional body, understood as `{}` (shared: nothing may mutate it).
#: The body `{}` (what an empty body where none is required is answered as).
EMPTY_OBJECT = ParsedBody({})


def parse_json(raw: bytes) -> ParsedBody:
    """Parse a JSON document (RFC 8259); the error says what is wrong, never raises.

    A repeated object key keeps its last value, as Go's `encoding/json` (the portal) and
    orjson do, and is named in `duplicate` so that it can be reported. Numbers are numbers
    whatever their size: orjson refuses integers beyond 64 bits and numbers beyond a double's
    range (`1E400`), which JSON allows, so those documents take the slower stdlib path.
    """
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        reason = str(exc)
    else:
        return ParsedBody(value, duplicate=_duplicate_key(raw, value))
    if "64-bit range" in reason or "Integer" in reason or "infinity" in reason:
        try:
            return _parse_exact(raw)
        except (ValueError, RecursionError) as exc:
            reason = str(exc) or type(exc).__name__
    if "recursion" in reason.lower():
        reason = "JSON nested too deeply"
    return ParsedBody(error=reason)


def _parse_exact(raw: bytes) -> ParsedBody:
    """The stdlib's parse, keeping numbers beyond a double exact; raises `ValueError`."""
    found: list[str] = []
    value = json.loads(raw, parse_float=_exact_number, object_pairs_hook=_last_wins(found))
    return ParsedBody(value, duplicate=found[0] if found else None)


def _exact_number(text: str) -> float | int | Decimal:
    """A JSON number with a fraction or exponent: a float when a double holds it, else
    exact: an `int` (`1E400`), or a `Decimal` when it has a fraction."""
    number = float(text)
    if math.isfinite(number):
        return number
    exact = Decimal(text)
    return int(exact) if exact == exact.to_integral_value() else exact


def _last_wins(found: list[str]) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """An `object_pairs_hook` that notes the first repeated key in `found`."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        if not found:
            seen: set[str] = set()
            for key, _ in items:
                if key in seen:
                    found.append(key)
                    break
                seen.add(key)
        return dict(items)

    return pairs


def _count_keys(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + sum(_count_keys(v) for v in value.values())
    if isinstance(value, list):
        return sum(_count_keys(v) for v in value)
    return 0


def _duplicate_key(raw: bytes, value: Any) -> str | None:
    """The first duplicated key, if any; cheap unless the document looks suspicious."""
    if not isinstance(value, dict | list):
        return None
    # Fast path: each key is followed by `":`; when that count equals the parsed keys there
    # can be no duplicate. Otherwise (white space before a colon, `":` inside strings, or
    # a real duplicate) look properly.
    if raw.count(b'":') == _count_keys(value):
        return None
    found: list[str] = []
    try:
        json.loads(raw, object_pairs_hook=_last_wins(found))
    except (ValueError, RecursionError):
        return None
    return found[0] if found else None


def duplicate_warning(parsed: ParsedBody, where: str) -> list[Violation]:
    """A Warning naming the key a JSON body repeats (readers may keep either value)."""
    if parsed.duplicate is None:
        return []
    return [
        violation(
            [where, "body"],
            "duplicateKey",
            f"{where} body repeats the object key {parsed.duplicate!r}; the last value is "
            "used (as Go's encoding/json does), other JSON readers may keep the first",
            "Warning",
        )
    ]
