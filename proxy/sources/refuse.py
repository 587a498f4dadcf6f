"""Refuses a request with an Error the way the portal would: 401, else the operation's own
documented 4xx and body (`{"errors": [...]}` for the seed's route): the mock's answer to a
bad request, and `--strict`'s in front of an upstream."""

from __future__ import annotations

from aiohttp import web

from proxy.documented import request_error
from proxy.exchange import Exchange
from proxy.violations import has_errors


class RefuseInvalid:
    """Answers requests that have an Error; passes valid ones. `source` names who refused
    (`mock` when it stands in for the portal, `gateway` in front of a real one)."""

    def __init__(self, source: str) -> None:
        self.source = source

    async def answer(self, ex: Exchange) -> web.StreamResponse | None:
        """The portal's refusal of an invalid request, or None."""
        if ex.operation is None or not has_errors(ex.violations):
            return None
        ex.source = self.source
        return request_error(ex.operation, ex.violations, self.source)
