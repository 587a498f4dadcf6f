"""Check a request against an operation; return violations, never raise.

The rules are PRODUCT.md's "Validation rules": path, query and header parameters by schema,
the operation's security requirement, Content-Type, JSON well-formedness and the body schema.
Responses are `proxy.response_validation`'s; both are importable from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from multidict import CIMultiDictProxy, MultiDict, MultiDictProxy

from proxy.jsonbody import EMPTY_OBJECT, NO_VALUE, ParsedBody, duplicate_warning, parse_json
from proxy.media import find_media, is_json_media, media_type_of
from proxy.memo import Memo
from proxy.response_validation import VERDICT_BODY_MAX, validate_response
from proxy.schema_errors import describe_location, schema_violations, short
from proxy.spec import VERDICTS_MAX, CompiledSchema, MediaType, Operation, Parameter
from proxy.violations import Violation, violation

__all__ = [
    "ParsedBody",
    "coerce_parameter",
    "describe_location",
    "find_media",
    "is_json_media",
    "media_type_of",
    "parse_json",
    "validate_request",
    "validate_response",
]


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
    if value is NO_VALUE:
        wanted = param.schema.get("type", "a valid value")
        return [violation(where, "type", f"{label} must be {wanted}, got {short(raw)}")]
    if param.validator.is_valid(value):
        return []
    found = []
    for error in param.validator.iter_errors(value):
        found.append(violation(where, str(error.validator), f"{label}: {error.message}"))
    return found


def coerce_parameter(raw: str, schema: Mapping[str, Any]) -> Any:
    """Turn a parameter's text into the type its schema names; `NO_VALUE` if it cannot."""
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
    return NO_VALUE


def _request_body(
    operation: Operation,
    headers: CIMultiDictProxy[str] | Mapping[str, str],
    body: bytes,
    found: list[Violation],
) -> ParsedBody:
    content_type = headers.get("Content-Type")
    media = media_type_of(content_type)
    if not body and not operation.request_body_required:
        # By the spec an absent optional body is valid; answered as `{}` is.
        found.append(
            violation(
                ["request", "body"],
                "required",
                "request body is empty: valid by the spec (requestBody is not required), "
                "but the portal is likely to refuse it",
                "Warning",
            )
        )
        return EMPTY_OBJECT
    if not body or not media or (target := find_media(operation.request_body, media)) is None:
        return _request_body_refused(operation, media, body, found)
    if media == "multipart/form-data":
        found.extend(_form_body(target, content_type or "", body))
        return ParsedBody()
    if not is_json_media(media):
        return ParsedBody()
    key = (target.validator, body)
    known = _BODY_VERDICTS.get(key)
    if known is None:
        known = _json_body(target.validator, body)
        if len(body) <= VERDICT_BODY_MAX:
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
