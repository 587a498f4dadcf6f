"""The loaded cassettes, and the request as a cassette would store it.

A `Library` is what `replay`, the mock and `record --record-mode new_episodes` look requests
up in. Recordings name the upstream's absolute URL, so a live request is matched under the
origin it would have had upstream: the configured `--upstream`, or, without one, the origin
the first loaded recording names.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from proxy.cassette import Cassette, Interaction, RecordedRequest
from proxy.exchange import Exchange
from proxy.redact import Redactor
from proxy.settings import Settings
from proxy.spec import Operation, Spec
from proxy.storage import cassette_path, gc_paused, load_cassette
from proxy.upstream import end_to_end

#: The origin used for matching when no upstream is configured and no cassette names one.
PLACEHOLDER_ORIGIN = "http://portal.invalid"


class Library:
    """Cassettes in lookup order, and how a live request is turned into a recorded one."""

    def __init__(
        self,
        cassettes: list[Cassette],
        spec: Spec,
        redactor: Redactor,
        match_on: tuple[str, ...],
        origin: tuple[str, str] | None = None,
    ) -> None:
        """`origin` is the upstream's (origin, base prefix); None takes the recordings'."""
        self.cassettes = cassettes
        self.spec = spec
        self.redactor = redactor
        self.match_on = match_on
        self.origin, self.prefix = origin or _recorded_origin(cassettes, spec.base_path)
        self.host = self.origin.split("://", 1)[1]
        self._match_headers = "headers" in match_on

    @classmethod
    def load(
        cls,
        settings: Settings,
        spec: Spec,
        redactor: Redactor,
        origin: tuple[str, str] | None,
        paths: Iterable[Path],
        *,
        pause_gc: bool = False,
    ) -> Library:
        """Load the cassettes at `paths`. `pause_gc`: index with the collector off (only the
        `portal-proxy` process may change the collector: see `proxy.server`)."""
        paths = list(paths)
        if pause_gc:
            with gc_paused():  # indexing makes many small objects, none in a cycle
                cassettes = [_load(path, settings.match_on) for path in paths]
        else:
            cassettes = [_load(path, settings.match_on) for path in paths]
        return cls(cassettes, spec, redactor, settings.match_on, origin)

    def recorded_request(self, ex: Exchange, *, lookup: bool = False) -> RecordedRequest:
        """The request as a cassette stores it: upstream URI, redacted headers, raw body.

        For a `lookup`, headers are left out unless a matcher compares them (the hot path
        of replay need not build what it does not compare).
        """
        request = ex.request
        uri = self.redactor.uri(f"{self.origin}{self.prefix}{ex.raw_path_qs}")
        if lookup and not self._match_headers:
            return RecordedRequest(request.method, uri, (), ex.body)
        # The headers the upstream got: end-to-end ones, with its own Host.
        sent = [
            (name, self.host if name.lower() == "host" else value)
            for name, value in end_to_end(plain_pairs(request.headers.items()))
        ]
        return RecordedRequest(request.method, uri, tuple(self.redactor.headers(sent)), ex.body)

    def find(self, ex: Exchange) -> Interaction | None:
        """The next recorded interaction for this request, if any cassette has one."""
        if not self.cassettes:
            return None
        wanted = self.recorded_request(ex, lookup=True)
        for cassette in self.cassettes:
            found = cassette.find(wanted)
            if found is not None:
                return found
        return None

    def nearest(self, ex: Exchange, limit: int = 3) -> list[Any]:
        """The closest recordings to a request none matched, fewest mismatches first."""
        wanted = self.recorded_request(ex)
        nearest: list[Any] = []
        for cassette in self.cassettes:
            nearest.extend(cassette.nearest(wanted))
        nearest.sort(key=lambda near: len(near["mismatches"]))
        return nearest[:limit]

    def example_of(self, operation: Operation) -> Interaction | None:
        """The newest 2xx recording of an operation, to shape a mock answer by."""
        for cassette in self.cassettes:
            for interaction in reversed(cassette.interactions):
                request = interaction.request
                path = request.uri.split("://", 1)[-1].partition("/")[2]
                route = self.spec.match(request.method, "/" + path.split("?", 1)[0])
                same = route is not None and route.operation is operation
                if same and 200 <= interaction.response.status < 300:
                    return interaction
        return None


def plain_pairs(items: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Header pairs with plain `str` names (multidict's `istr` is not a JSON key to orjson)."""
    return [(str(name), value) for name, value in items]


def cassette_paths(settings: Settings, *, every_in_dir: bool) -> list[Path]:
    """The cassettes to load: `--cassette` if it exists, else (`every_in_dir`) every
    `*.yaml` of `--cassette-dir`."""
    if settings.cassette is not None:
        path = cassette_path(settings.cassette_dir, settings.cassette)
        return [path] if path.exists() else []
    if every_in_dir and settings.cassette_dir.is_dir():
        return sorted(settings.cassette_dir.glob("*.yaml"))
    return []


def _load(path: Path, match_on: tuple[str, ...]) -> Cassette:
    return Cassette(path.stem, match_on, load_cassette(path))


def _recorded_origin(cassettes: list[Cassette], base: str) -> tuple[str, str]:
    for cassette in cassettes:
        for interaction in cassette.interactions:
            scheme, _, rest = interaction.request.uri.partition("://")
            host, _, path = rest.partition("/")
            path = "/" + path.split("?", 1)[0]
            prefix = path[: path.find(base)] if base and base in path else ""
            return f"{scheme}://{host}", prefix
    return PLACEHOLDER_ORIGIN, ""
