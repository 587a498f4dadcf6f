"""Simulated latency (`--latency`, `Prefer: delay=MS`): a wrapper around sources.

Mock and replay answer in microseconds; a frontend developer wants to see the page's loading
states. `Delayed` holds back the answers of the sources it wraps, the cassette and the mock,
by `asyncio.sleep`, so a delayed request never holds up another. The gateway's own answers
(`X-Portal-Proxy-Source: gateway`: a bad `Prefer` code, a problem) are never delayed, and a
preflight never reaches a source at all.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

from aiohttp import web

from proxy.exchange import Exchange
from proxy.problems import SOURCE_HEADER, problem
from proxy.sources import Source
from proxy.sources.mock import parse_prefer
from proxy.values import MAX_DELAY_MS, delay_ms


class Delayed:
    """Answers as the first of `sources` that answers, `latency` (min, max) milliseconds
    later, uniformly drawn; `Prefer: delay=MS` replaces it for one request (0 to 60,000).

    One wrapper around the whole group, so `Prefer` is read once per request however many
    sources stand in for the portal."""

    def __init__(self, sources: Sequence[Source], latency: tuple[int, int]) -> None:
        self.sources = tuple(source.answer for source in sources)
        self.wrapped = tuple(sources)
        self.latency = latency

    async def _first(self, ex: Exchange) -> web.StreamResponse | None:
        for answer in self.sources:
            response = await answer(ex)
            if response is not None:
                return response
        return None

    async def answer(self, ex: Exchange) -> web.StreamResponse | None:
        """The wrapped source's answer, delayed; 400 problem+json for a bad `Prefer` delay."""
        prefer = ex.request.headers.get("Prefer")
        if prefer is None and not self.latency[1]:
            return await self._first(ex)  # the usual request: nothing to delay
        wanted = requested_delay(prefer or "")
        if isinstance(wanted, web.Response):
            return wanted
        response = await self._first(ex)
        if response is None or response.headers.get(SOURCE_HEADER) == "gateway":
            return response
        low, high = self.latency if wanted is None else (wanted, wanted)
        if high > 0:
            await asyncio.sleep(random.uniform(low, high) / 1000)
        return response


def requested_delay(prefer: str) -> int | web.Response | None:
    """The delay `Prefer: delay=MS` asks for, None when it asks none, or the 400 to answer."""
    if "delay" not in prefer.lower():
        return None  # the common case: no Prefer header at all
    value = parse_prefer(prefer).get("delay")
    if value is None:
        return None
    try:
        return delay_ms(value)
    except ValueError:
        return problem(
            "bad-request",
            f"Prefer: delay={value} is not a delay; expected whole milliseconds 0-{MAX_DELAY_MS}",
            prefer=f"delay={value}",
        )
