"""Check a response against an operation: documented status, media type, body schema.

The rules are PRODUCT.md's: an undocumented status is a Warning, an undocumented 2xx an
Error (as Prism does); a media type the spec does not document for that status, a missing
Content-Type on a non-empty body and an empty body where content is documented are Errors;
then the body schema. Returns violations, never raises.
"""

from __future__ import annotations

from collections.abc import Mapping

from multidict import CIMultiDictProxy

from proxy.inflate import inflate
from proxy.jsonbody import duplicate_warning, parse_json
from proxy.media import find_media, is_json_media, media_type_of
from proxy.operations import Operation
from proxy.schema_errors import schema_violations
from proxy.violations import Severity, Violation, violation

#: Verdicts are kept only for bodies up to this size (a memo must not hold large bodies).
VERDICT_BODY_MAX = 16 * 1024
#: Recent response verdicts per operation (`Operation.verdicts`), by content: a portal that
#: keeps sending the same wrong body (the usual drift) is judged once, not once per request.


def validate_response(
    operation: Operation,
    status: int,
    headers: CIMultiDictProxy[str] | Mapping[str, str],
    body: bytes,
) -> list[Violation]:
    """Validate one response (its body as sent on the wire, possibly compressed)."""
    if len(body) > VERDICT_BODY_MAX:
        return _validate_response(operation, status, headers, body)
    verdicts = operation.verdicts
    key = (status, headers.get("Content-Type"), headers.get("Content-Encoding"), body)
    found = verdicts.get(key)
    if found is None:
        found = verdicts.keep(key, _validate_response(operation, status, headers, body))
    return list(found)


def _validate_response(
    operation: Operation,
    status: int,
    headers: CIMultiDictProxy[str] | Mapping[str, str],
    body: bytes,
) -> list[Violation]:
    documented = operation.response_for(status)
    if documented is None:
        codes = ",".join(operation.responses)
        severity: Severity = "Error" if 200 <= status < 300 else "Warning"
        return [
            violation(
                ["response"],
                status,
                f"response status {status} is not documented for {operation.operation_id}; "
                f"documented: {codes}",
                severity,
            )
        ]
    _, media_types = documented
    if not media_types:
        return []
    names = ", ".join(m.media_type for m in media_types)
    if status in (204, 304) or not body:
        if not body:
            return [
                violation(
                    ["response", "body"],
                    "required",
                    f"response body is empty; status {status} documents {names}",
                )
            ]
        return []
    media = media_type_of(headers.get("Content-Type"))
    if not media:
        return [
            violation(
                ["response", "header", "Content-Type"],
                415,
                f"response Content-Type is missing on a non-empty body; expected {names}",
            )
        ]
    target = find_media(media_types, media)
    if target is None:
        return [
            violation(
                ["response", "header", "Content-Type"],
                415,
                f"response Content-Type {media} is not documented for status {status}; "
                f"expected {names}",
            )
        ]
    if not is_json_media(media) or target.validator is None:
        return []
    plain = inflate(headers.get("Content-Encoding"), body)
    if plain is None:
        encoding = headers.get("Content-Encoding")
        return [
            violation(
                ["response", "header", "Content-Encoding"],
                "contentEncoding",
                f"response body could not be decoded from Content-Encoding {encoding}",
                "Warning",
            )
        ]
    parsed = parse_json(plain)
    if parsed.error is not None:
        return [
            violation(
                ["response", "body"],
                "contentMediaType",
                f"response body is not valid JSON ({parsed.error}); expected {media}",
            )
        ]
    found = schema_violations(target.validator, parsed.value, ["response", "body"])
    return [*duplicate_warning(parsed, "response"), *found]
