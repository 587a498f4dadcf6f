"""Answers shaped as the spec documents them: the documented media type with a body that
fits it, and error bodies in the schema each operation documents for that status.

The mock must fit the spec for every operation of Tyk's whole spec, not only the seed's:
a logo is `image/jpeg`, an OAS document `application/x-yaml`, a theme `application/zip`, and
a 422 may be documented as `{"errors": [...]}` on one operation and as a plain string on
another. Shared by the stateless mock and the state source (`proxy.state`).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from aiohttp import web

from proxy.jsonout import dumps as dumps_json
from proxy.problems import SOURCE_HEADER
from proxy.responses import empty_response, json_response
from proxy.spec import MediaType, Operation
from proxy.synth import BodyPlan, fits_check
from proxy.validation import is_json_media
from proxy.violations import Violation

#: A 1x1 grey baseline JPEG (made once with Pillow; decoders open it).
TINY_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERXRTc4"
    "UG1RV19iZ2hnPk1xeXBkeFxlZ2P/wAALCAABAAEBAREA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QA"
    "tRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0"
    "NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2"
    "t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/9oACAEBAAA/APQK/9k="
)
#: An empty zip archive: only the end-of-central-directory record.
EMPTY_ZIP = b"PK\x05\x06" + bytes(18)
#: What a YAML body documented as a plain string gets: the portal serves OAS documents there.
MINI_OAS = b"openapi: 3.0.3\ninfo:\n  title: mock\n  version: '1'\npaths: {}\n"
MINI_GRAPHQL = b"type Query {\n  ok: Boolean\n}\n"

_plans: dict[int, BodyPlan] = {}  # by id of a schema the loaded spec keeps alive


def plan_for(schema: Mapping[str, Any] | None) -> BodyPlan:
    """The body plan of a schema, worked out once (schemas live as long as the spec)."""
    if schema is None:
        return BodyPlan(None)
    plan = _plans.get(id(schema))
    if plan is None or plan.schema is not schema:
        plan = _plans[id(schema)] = BodyPlan(schema)
    return plan


def pick_media(media_types: Sequence[MediaType]) -> MediaType:
    """The media type a mock answers with: JSON when documented, else the first one."""
    for media in media_types:
        if is_json_media(media.media_type):
            return media
    return media_types[0]


def encode(media: MediaType, value: Any) -> bytes:
    """`value` as a body of `media`'s type: JSON, or a small valid file of that type."""
    kind = media.media_type
    if is_json_media(kind) or "*" in kind:
        return dumps_json(value)
    if kind.startswith("image/"):
        return TINY_JPEG
    if kind in ("application/zip", "application/x-zip-compressed"):
        return EMPTY_ZIP
    if "yaml" in kind:
        # A YAML document of the schema's value: a string schema gets an OAS document's
        # text as that string (what the portal serves there), dumped as a YAML string.
        text = MINI_OAS.decode() if isinstance(value, str) else value
        return yaml.safe_dump(text, default_flow_style=False).encode()
    if kind == "application/graphql":
        return MINI_GRAPHQL
    if isinstance(value, str):
        return value.encode()
    return dumps_json(value)


def body_response(status: int, media: MediaType, value: Any, source: str) -> web.Response:
    """A response of `media`'s type carrying `value`."""
    kind = media.media_type
    content_type = "application/octet-stream" if "*" in kind else kind
    response = web.Response(status=status, body=encode(media, value), content_type=content_type)
    response.headers[SOURCE_HEADER] = source
    return response


def error_status(operation: Operation) -> int:
    """The status for a request the mock refuses: 422 or 400 when documented (the portal's
    own), else the operation's one documented 4xx however oddly it reads, else 422."""
    documented = sorted(int(c) for c in operation.responses if c.isdigit() and c[0] == "4")
    for preferred in (422, 400):
        if preferred in documented:
            return preferred
    return documented[0] if documented else 422


def missing_status(operation: Operation) -> int:
    """The status for an item that is not there (deleted, or below a deleted parent): 404,
    documented or not: no other status says it, and clients (and Schemathesis) expect it."""
    del operation  # the same for every operation; kept so a spec could change it
    return 404


def error_response(
    operation: Operation, status: int, messages: list[str], source: str
) -> web.Response:
    """An error of `status` in the body the operation documents for it (OnlyErrors,
    Status, a plain string...); `{"errors": [...]}` where it documents none."""
    documented = operation.response_for(status)
    if documented is None:
        return json_response(status, {"errors": messages}, source)
    _, media_types = documented
    if not media_types:
        return empty_response(status, source)
    media = pick_media(media_types)
    return body_response(status, media, error_value(media.schema, messages), source)


def error_value(schema: Mapping[str, Any] | None, messages: list[str]) -> Any:
    """A value of `schema` that carries the messages wherever the schema has room."""
    text = "; ".join(messages)
    if schema is None:
        return {"errors": messages}
    plan = plan_for(schema)
    value = plan.render({"errors": messages, "message": text, "error": text, "status": "error"})
    if isinstance(value, str) and fits_check(schema)(text):
        return text
    return value


def request_error(operation: Operation, violations: list[Violation], source: str) -> web.Response:
    """The mock's answer to a bad request: 401 for missing credentials (the portal's, though
    no operation documents it), else the documented error status in its documented body."""
    errors = [v for v in violations if v["severity"] == "Error"]
    unauthorized = [v for v in errors if v["code"] == 401]
    chosen = unauthorized or errors
    status = 401 if unauthorized else error_status(operation)
    return error_response(operation, status, [v["message"] for v in chosen], source)
