"""Answers from recorded interactions: a hit is replayed as recorded (`CassetteSource`); a
miss can be refused with the nearest recordings (`MissSource`)."""

from __future__ import annotations

from aiohttp import web
from multidict import CIMultiDict

from proxy.cassette import Interaction
from proxy.exchange import Exchange
from proxy.library import Library
from proxy.problems import problem
from proxy.responses import Prepared, passthrough, prepare
from proxy.validation import validate_response


class CassetteSource:
    """Replays the next recording that matches; recorded responses are validated once."""

    def __init__(self, library: Library) -> None:
        self.library = library
        # Passthrough headers per recorded response (interactions live as long as we do).
        self._prepared: dict[int, Prepared] = {}

    async def answer(self, ex: Exchange) -> web.StreamResponse | None:
        """Replay a matching recording; pass when none matches, or for a method the spec
        does not document on a path it knows (that is the pipeline's 405)."""
        if ex.route is not None and ex.operation is None:
            return None
        hit = self.library.find(ex)
        return self.replay(ex, hit) if hit is not None else None

    def replay(self, ex: Exchange, interaction: Interaction) -> web.Response:
        """Answer with a recorded response, validated against the spec (once, then cached)."""
        recorded = interaction.response
        if ex.operation is not None:
            if interaction.checked is None:
                interaction.checked = validate_response(
                    ex.operation, recorded.status, CIMultiDict(recorded.headers), recorded.body
                )
            ex.violations.extend(interaction.checked)
        ex.source = "cassette"
        prepared = self._prepared.get(id(recorded))
        if prepared is None:
            prepared = self._prepared[id(recorded)] = prepare(recorded.headers)
        return passthrough(
            recorded.status,
            recorded.reason,
            recorded.headers,
            recorded.body,
            "cassette",
            refresh_date=True,
            prepared=prepared,
        )


class MissSource:
    """A replay miss: 404 problem+json naming the nearest recordings and what differed."""

    def __init__(self, library: Library) -> None:
        self.library = library

    async def answer(self, ex: Exchange) -> web.StreamResponse | None:
        """Refuse a request of the spec's operations that no recording matched."""
        if ex.operation is None:
            return None  # a path the spec does not know is an unknown route
        cassettes = [c.name for c in self.library.cassettes]
        match_on = self.library.match_on
        return problem(
            "replay-miss",
            f"no recorded interaction in cassette {', '.join(cassettes) or '(none loaded)'} "
            f"matches {ex.request.method} {ex.request.rel_url.raw_path} on {', '.join(match_on)}",
            nearest=self.library.nearest(ex),
            cassettes=cassettes,
            match_on=list(match_on),
        )
