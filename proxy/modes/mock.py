"""`mock`: answer from a matching cassette if one is loaded, else from the spec.

Invalid requests get the portal's own answers (401, 422 `{"errors": [...]}`); a `Prefer`
header (Prism's convention) picks a documented status (`code=422`) or a named example.
"""

from __future__ import annotations

from aiohttp import web

from proxy.documented import request_error
from proxy.exchange import Exchange
from proxy.gateway import Gateway
from proxy.violations import has_errors


async def serve(gateway: Gateway, ex: Exchange) -> web.StreamResponse:
    """Serve one request in mock mode."""
    hit = gateway.lookup(ex)
    if hit is not None:
        return gateway.replay(ex, hit)
    if gateway.state is not None:  # issue 13: the state source answers what it knows
        remembered = await gateway.state.answer(ex)
        if remembered is not None:
            ex.source = "mock"
            return remembered
    prefer = parse_prefer(ex.request.headers.get("Prefer", ""))
    if has_errors(ex.violations):
        ex.source = "mock"
        assert ex.operation is not None
        return request_error(ex.operation, ex.violations, "mock")  # issue 13: documented 4xx
    code = prefer.get("code")
    status = int(code) if code is not None and code.isdigit() else None
    return gateway.synthesize(ex, status=status, example=prefer.get("example"))


def parse_prefer(header: str) -> dict[str, str]:
    """`Prefer: code=422, example=bad` -> {"code": "422", "example": "bad"} (RFC 7240 style)."""
    preferences: dict[str, str] = {}
    for part in header.replace(";", ",").split(","):
        name, _, value = part.strip().partition("=")
        if name and value:
            preferences[name.strip().lower()] = value.strip().strip('"')
    return preferences
