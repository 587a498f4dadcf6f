"""Violations as data: Prism's `sl-violations` shape, and its header encoding."""

from __future__ import annotations

import json
from typing import Literal, TypedDict

Severity = Literal["Error", "Warning"]

#: Prism cuts `sl-violations` at about 8 KB; so do we, keeping whole violations only.
HEADER_LIMIT = 8 * 1024


class Violation(TypedDict):
    """One disagreement between an exchange and the spec.

    `location` starts with `request` or `response`; `code` is the JSON Schema keyword that
    failed, or an HTTP status number (401, 415) for protocol-level problems.
    """

    location: list[str | int]
    severity: Severity
    code: str | int
    message: str


def violation(
    location: list[str | int], code: str | int, message: str, severity: Severity = "Error"
) -> Violation:
    """Build a violation (keeps the four keys in one place)."""
    return {"location": location, "severity": severity, "code": code, "message": message}


def location_text(location: list[str | int], sep: str = ".") -> str:
    """A violation's location as text: `response.body.GrantType` (or with another separator)."""
    return sep.join(str(part) for part in location)


def violation_line(item: Violation) -> str:
    """One violation as one line of text, as the log, `check` and the pytest plugin print it:
    `Error response.body.GrantType (enum): ...`."""
    return (
        f"{item['severity']} {location_text(item['location'])} ({item['code']}): {item['message']}"
    )


def has_errors(violations: list[Violation]) -> bool:
    """True when any violation is an Error rather than a Warning."""
    return any(v["severity"] == "Error" for v in violations)


def header_value(violations: list[Violation], limit: int = HEADER_LIMIT) -> str:
    """Encode violations for the `sl-violations` header, at most `limit` bytes.

    Whole violations are dropped from the end until the JSON array fits, so the header is
    always valid JSON (Prism truncates the same way).
    """
    encoded = _dumps(violations)
    if len(encoded) <= limit:
        return encoded
    kept: list[Violation] = []
    size = 2  # the brackets
    for item in violations:
        part = len(_dumps(item)) + (1 if kept else 0)
        if size + part > limit:
            break
        kept.append(item)
        size += part
    return _dumps(kept)


def _dumps(value: object) -> str:
    # ASCII only: a header must survive any HTTP stack, and messages may quote client data.
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))
