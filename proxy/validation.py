"""Check a request or a response against an operation; return violations, never raise.

The rules are PRODUCT.md's "Validation rules": path, query and header parameters by schema,
the operation's security requirement, Content-Type, JSON well-formedness and the body schema
for requests; the documented status, media type and body schema for responses.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson
from multidict import CIMultiDictProxy, MultiDict, MultiDictProxy

from proxy.inflate import inflate
from proxy.jsonout import dumps as dumps_json
from proxy.memo import Memo
from proxy.spec import VERDICTS_MAX, CompiledSchema, MediaType, Operation, Parameter
from proxy.violations import Severity, Violation, location_text, violation

if TYPE_CHECKING:
    from jsonschema import ValidationError

#: Verdicts are kept only for bodies up to this size (a memo must not hold large bodies).
_VERDICT_BODY_MAX = 16 * 1024

_NO_BODY = object()


@dataclass(frozen=True, slots=True)
class ParsedBody:
    """A body as the gateway understood it: JSON value, or the reason it is not one.

    `duplicate`: the first object key the document repeats (the value is the last one's).
    """

    value: Any = _NO_BODY
    error: str | None = None
    duplicate: str | None = None

    @property
    def present(self) -> bool:
        """True when the body parsed to a JSON value."""
        return self.value is not _NO_BODY


#: An absent optional body, understood as `{}` (shared: nothing may mutate it).
_EMPTY_OBJECT = ParsedBody({})


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


def media_type_of(content_type: str | None) -> str:
    """`application/json; charset=utf-8` -> `application/json` (lower case)."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def is_json_media(media: str) -> bool:
    """True for `application/json` and `+json` suffixed types."""
    return media == "application/json" or media.endswith("+json")


def find_media(documented: tuple[MediaType, ...], media: str) -> MediaType | None:
    """The documented media type that a concrete one falls under (`*/*`, `type/*` too)."""
    wildcard: MediaType | None = None
    for candidate in documented:
        if candidate.media_type == media:
            return candidate
        kind, _, sub = candidate.media_type.partition("/")
        if wildcard is None and (kind == "*" or (sub == "*" and media.startswith(f"{kind}/"))):
            wildcard = candidate
    return wildcard


def describe_location(location: list[str | int]) -> str:
    """`["response", "body", "GrantType"]` -> `response body property GrantType` (prose for
    a message; `proxy.violations.location_text` is the short form)."""
    head = location_text(location[:2], " ")
    rest = location[2:]
    return f"{head} property {location_text(rest)}" if rest else head


def _short(value: Any, limit: int = 60) -> str:
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
    got = _short(error.instance)
    if keyword == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return f"{subject} must be {wanted}, got {got}"
    if keyword == "enum":
        allowed = ", ".join(str(v) for v in expected)
        return f"{subject} must be one of: {allowed}; got {got}"
    if keyword == "const":
        return f"{subject} must be {_short(expected)}, got {got}"
    if keyword == "pattern":
        return f"{subject} must match pattern {expected}, got {got}"
    if keyword == "required":
        return f"{subject} {error.message}"
    if keyword == "additionalProperties":
        return f"{subject} has unexpected properties: {error.message}"
    return f"{subject}: {error.message}"


# -- requests ---------------------------------------------------------------------------------


def validate_request(
    operation: Operation,
    path_params: Mapping[str, str],
    query: str,
    headers: CIMultiDictProxy[str] | Mapping[str, str],
    body: bytes,
) -> tuple[list[Violation], ParsedBody]:
    """Validate one request; returns the violations and the parsed JSON body (if any)."""
    found: list[Violation] = []
    found.extend(_security(operation, headers, query))
    query_values: MultiDictProxy[str] | None = None
    for param in operation.parameters:
        if param.location == "path":
            raw: str | None = path_params.get(param.name)
        elif param.location == "query":
            if query_values is None:
                query_values = MultiDictProxy(MultiDict(parse_qsl(query, keep_blank_values=True)))
            raw = query_values.get(param.name)
        elif param.location == "header":
            raw = headers.get(param.name)
        else:
            continue  # cookie parameters: not used by the portal's API
        found.extend(_parameter(param, raw))
    parsed = ParsedBody()
    if operation.request_body:
        parsed = _request_body(operation, headers, body, found)
    return found, parsed


def _security(
    operation: Operation, headers: CIMultiDictProxy[str] | Mapping[str, str], query: str
) -> list[Violation]:
    # Plain loops, not any()/all() over generators: this runs on every request.
    for requirement in operation.security:
        for scheme in requirement:
            if not _credential_present(scheme.location, scheme.param, headers, query):
                break
        else:
            return []  # every credential of this requirement is there (or it asks none)
    if not operation.security:
        return []
    names = " or ".join(
        " and ".join(f"{s.name} ({s.kind} in {s.location} {s.param!r})" for s in requirement)
        for requirement in operation.security
    )
    return [
        violation(
            ["request"],
            401,
            f"Invalid security scheme used: missing or empty credentials; expected {names}",
        )
    ]


def _credential_present(
    location: str, name: str, headers: CIMultiDictProxy[str] | Mapping[str, str], query: str
) -> bool:
    if location == "header":
        value = headers.get(name)
        return value is not None and bool(value.strip())
    if location == "query":
        return any(k == name and v.strip() for k, v in parse_qsl(query, keep_blank_values=True))
    if location == "cookie":
        cookie = headers.get("Cookie") or ""
        return any(
            part.strip().startswith(f"{name}=") and part.split("=", 1)[1].strip()
            for part in cookie.split(";")
        )
    return False


def _parameter(param: Parameter, raw: str | None) -> list[Violation]:
    where: list[str | int] = ["request", param.location, param.name]
    label = f"request {param.location} parameter {param.name}"
    if raw is None:
        if param.required:
            return [violation(where, "required", f"{label} is required")]
        return []
    value = coerce_parameter(raw, param.schema)
    if value is _NO_BODY:
        wanted = param.schema.get("type", "a valid value")
        return [violation(where, "type", f"{label} must be {wanted}, got {_short(raw)}")]
    if param.validator.is_valid(value):
        return []
    found = []
    for error in param.validator.iter_errors(value):
        found.append(violation(where, str(error.validator), f"{label}: {error.message}"))
    return found


def coerce_parameter(raw: str, schema: Mapping[str, Any]) -> Any:
    """Turn a parameter's text into the type its schema names; `_NO_BODY` if it cannot."""
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "integer" in kinds:
        # ASCII digits only: `int()` would take " 1", "1_000" and non-ASCII digits.
        text = raw[1:] if raw[:1] == "-" else raw
        if text.isascii() and text.isdigit():
            return int(raw)
    if "number" in kinds:
        try:
            number = float(raw)
        except ValueError:
            pass
        else:
            if raw.isascii() and number == number and abs(number) != float("inf"):
                return number
    if "boolean" in kinds and raw in ("true", "false"):
        return raw == "true"
    if "string" in kinds or kind is None:
        return raw
    return _NO_BODY


def _request_body(
    operation: Operation,
    headers: CIMultiDictProxy[str] | Mapping[str, str],
    body: bytes,
    found: list[Violation],
) -> ParsedBody:
    content_type = headers.get("Content-Type")
    media = media_type_of(content_type)
    if not body and not operation.request_body_required:
        # issue 13: by the spec an absent optional body is valid; answered as `{}` is.
        found.append(
            violation(
                ["request", "body"],
                "required",
                "request body is empty: valid by the spec (requestBody is not required), "
                "but the portal is likely to refuse it",
                "Warning",
            )
        )
        return _EMPTY_OBJECT
    if not body or not media or (target := find_media(operation.request_body, media)) is None:
        return _request_body_refused(operation, media, body, found)
    if media == "multipart/form-data":
        found.extend(_form_body(target, content_type or "", body))  # issue 13
        return ParsedBody()
    if not is_json_media(media):
        return ParsedBody()
    key = (target.validator, body)
    known = _BODY_VERDICTS.get(key)
    if known is None:
        known = _json_body(target.validator, body)
        if len(body) <= _VERDICT_BODY_MAX:
            _BODY_VERDICTS.keep(key, known)
    violations, parsed = known
    found.extend(violations)
    return parsed


def _request_body_refused(
    operation: Operation, media: str, body: bytes, found: list[Violation]
) -> ParsedBody:
    """The violations of a body that is missing, or of no documented media type."""
    documented = ", ".join(m.media_type for m in operation.request_body)
    if not body:
        # The portal decodes every body it documents; an empty one is refused there too.
        found.append(
            violation(
                ["request", "body"], "required", f"request body is empty; expected {documented}"
            )
        )
        return ParsedBody()
    if not media:
        found.append(
            violation(
                ["request", "header", "Content-Type"],
                415,
                f"request Content-Type is missing; expected {documented}",
            )
        )
        return ParsedBody()
    found.append(
        violation(
            ["request", "header", "Content-Type"],
            415,
            f"request Content-Type {media} is not supported; expected {documented}",
        )
    )
    return ParsedBody()


def _form_body(target: MediaType, content_type: str, body: bytes) -> list[Violation]:
    """A `multipart/form-data` body: a form whose every part is a named field, with the
    fields the schema requires (their values are files or text: not checked further)."""
    import email.parser
    import email.policy

    where: list[str | int] = ["request", "body"]
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    boundary = message.get_boundary()
    if boundary is not None and body.strip() == f"--{boundary}--".encode("latin-1", "replace"):
        message.set_payload([])  # a form with no fields: only the closing delimiter
    elif not message.is_multipart() or message.defects:
        return [
            violation(where, "contentMediaType", "request body is not a multipart/form-data form")
        ]
    names = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_content_disposition() != "form-data":
            return [violation(where, "type", "request body part is not a named form field")]
        names.append(name)
    schema = target.schema or {}
    missing = [n for n in schema.get("required") or [] if n not in names]
    return [
        violation([*where, n], "required", f"request form field {n} is required") for n in missing
    ]


#: Request body verdicts by (schema, body): clients send the same body again and again, and
#: parsing and checking it costs more than the rest of the request's validation. The key
#: holds the schema itself (not its id), so a verdict cannot outlive the spec it came from.
#: The parsed value is shared by the requests that sent those bytes: nothing may mutate it.
_BODY_VERDICTS: Memo[
    tuple[CompiledSchema | None, bytes], tuple[tuple[Violation, ...], ParsedBody]
] = Memo(VERDICTS_MAX)


def _json_body(
    validator: CompiledSchema | None, body: bytes
) -> tuple[tuple[Violation, ...], ParsedBody]:
    parsed = parse_json(body)
    if parsed.error is not None:
        message = f"request body is not valid JSON ({parsed.error})"
        return (violation(["request", "body"], "contentMediaType", message),), parsed
    found = (
        schema_violations(validator, parsed.value, ["request", "body"])
        if validator is not None
        else []
    )
    return (*duplicate_warning(parsed, "request"), *found), parsed


# -- responses --------------------------------------------------------------------------------


#: Recent response verdicts per operation (`Operation.verdicts`), by content: a portal that
#: keeps sending the same wrong body (the usual drift) is judged once, not once per request.


def validate_response(
    operation: Operation,
    status: int,
    headers: CIMultiDictProxy[str] | Mapping[str, str],
    body: bytes,
) -> list[Violation]:
    """Validate one response (its body as sent on the wire, possibly compressed)."""
    if len(body) > _VERDICT_BODY_MAX:
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
