"""One request/response exchange as it moves through the gateway's pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from proxy.spec import Operation, RouteMatch
from proxy.validation import ParsedBody
from proxy.violations import Violation


@dataclass(slots=True)
class Exchange:
    """The request as read and validated, and what the source that answered it decided.

    `violations` starts with the request's and gains the response's; `source` says who
    produced the response (upstream, cassette, mock or gateway).
    """

    request: web.BaseRequest
    body: bytes
    route: RouteMatch | None
    violations: list[Violation] = field(default_factory=list)
    parsed: ParsedBody = field(default_factory=ParsedBody)
    source: str = "gateway"
    upstream_latency: float | None = None

    @property
    def operation(self) -> Operation | None:
        """The spec operation this request maps to, if any."""
        return self.route.operation if self.route is not None else None

    @property
    def raw_path_qs(self) -> str:
        """Path and query exactly as the client sent them (still percent-encoded)."""
        return self.request.rel_url.raw_path_qs


def is_preflight(request: web.BaseRequest) -> bool:
    """True for a browser's CORS preflight: `OPTIONS` with `Origin` and the method it wants
    (`proxy.cors` answers it; a recorder never records it)."""
    headers = request.headers
    return (
        request.method == "OPTIONS"
        and "Origin" in headers
        and "Access-Control-Request-Method" in headers
    )
