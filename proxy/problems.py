"""The gateway's own errors, as RFC 9457 `application/problem+json` responses.

Each kind has its own `type` URI so that clients can tell a replay miss from an unknown
route or an unreachable upstream without parsing prose.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

PROBLEM_JSON = "application/problem+json"
SOURCE_HEADER = "X-Portal-Proxy-Source"

_BASE = "urn:portal-proxy:problem:"

#: kind -> (status, title)
KINDS: dict[str, tuple[int, str]] = {
    "replay-miss": (404, "No recorded interaction matches this request"),
    "unknown-route": (404, "No such route"),
    "method-not-allowed": (405, "Method not allowed on this route"),
    "upstream-unreachable": (502, "The upstream could not be reached"),
    "upstream-timeout": (504, "The upstream did not answer in time"),
    "upstream-tls": (502, "TLS with the upstream failed"),
    "not-ready": (503, "The upstream is failing"),
    "invalid-upstream-response": (502, "The upstream's response violates the spec"),
    "payload-too-large": (413, "Request body too large"),
    "expectation-failed": (417, "Expectation not supported"),
    "bad-request": (400, "The request cannot be processed"),
    "unauthorized": (401, "Admin token required"),
    "cassette-error": (500, "The cassette cannot be used"),
    "cors-origin-not-allowed": (403, "Origin not allowed by --cors-origin"),
    "state-full": (507, "The mock's state is full (--state-limit)"),
}


def problem_type(kind: str) -> str:
    """The `type` URI of a problem kind."""
    return f"{_BASE}{kind}"


def problem(
    kind: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    """Build a problem+json response of a known kind, marked as the gateway's own."""
    status, title = KINDS[kind]
    body: dict[str, Any] = {"type": problem_type(kind), "title": title, "status": status}
    body["detail"] = detail
    body.update(extra)
    response = web.Response(
        status=status,
        body=orjson.dumps(body),
        content_type=PROBLEM_JSON,
        headers=headers,
    )
    response.headers[SOURCE_HEADER] = "gateway"
    return response


def method_not_allowed(method: str, path: str, allowed: tuple[str, ...]) -> web.Response:
    """405 problem+json with `Allow`: the route's, and the admin endpoints'."""
    text = ", ".join(allowed)
    return problem(
        "method-not-allowed",
        f"{method} is not allowed on {path}; allowed: {text}",
        headers={"Allow": text},
        allowed=list(allowed),
    )
