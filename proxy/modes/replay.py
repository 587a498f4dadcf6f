"""`replay`: serve recorded interactions only; a miss is a 404 naming the nearest ones.

With `--on-miss mock`, a miss is answered like the mock, but shaped by the nearest
recording of the same operation: its body, with the fields that echo the request (`ID`)
taken from this request. No peer tool generalizes from one recording.
"""

from __future__ import annotations

from aiohttp import web

from proxy.exchange import Exchange
from proxy.gateway import Gateway
from proxy.modes import mock
from proxy.responses import request_error
from proxy.validation import parse_json
from proxy.violations import has_errors


async def serve(gateway: Gateway, ex: Exchange) -> web.StreamResponse:
    """Serve one request from the cassettes."""
    hit = gateway.lookup(ex)
    if hit is not None:
        return gateway.replay(ex, hit)
    if gateway.settings.on_miss != "mock" or ex.operation is None:
        return gateway.miss(ex)
    if has_errors(ex.violations):
        ex.source = "mock"
        return request_error(ex.violations, "mock")
    nearest = gateway.nearest_interaction(ex)
    if nearest is None:
        return await mock.serve(gateway, ex)
    shape = parse_json(nearest.response.body)
    return gateway.synthesize(
        ex, status=nearest.response.status, shape=shape.value if shape.present else None
    )
