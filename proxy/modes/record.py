"""`record`: forward to the upstream and append each exchange to the cassette.

The record modes are VCR.py's: `all` forwards and records everything; `new_episodes`
replays what the cassette has and records the rest; `none` only replays; `once` is decided
at start (`Gateway.start`): an existing cassette is replayed, a new one recorded in full.
"""

from __future__ import annotations

from aiohttp import web

from proxy.exchange import Exchange
from proxy.gateway import Gateway
from proxy.modes import proxy


async def serve(gateway: Gateway, ex: Exchange) -> web.StreamResponse:
    """Serve one request in record mode."""
    if gateway.record_mode in ("none", "new_episodes"):
        hit = gateway.lookup(ex)
        if hit is not None:
            return gateway.replay(ex, hit)
        if gateway.record_mode == "none":
            return gateway.miss(ex)
    return await proxy.serve(gateway, ex, record=True)
