"""Sources: the parts that answer an exchange, tried in a mode's order (`proxy.modes`).

A source looks at a validated `Exchange` and either answers it (a response) or passes
(None) to the next source. Each owns its caches; none calls back into the pipeline.
"""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from proxy.exchange import Exchange


class Source(Protocol):
    """Answers an exchange, or passes it on with None."""

    async def answer(self, ex: Exchange) -> web.StreamResponse | None:
        """The response for `ex`, or None to let the next source try."""
