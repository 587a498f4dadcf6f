"""Recorded interactions in memory, found by a hash of the request's match key.

A request's match key is the tuple of its normalized values for the configured matchers
(VCR.py's names). Finding a recording is one dict lookup, never a scan; the same request
recorded several times plays back in order, the last one repeating (VCR.py's
`allow_playback_repeats` behaviour for the final recording).
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict
from urllib.parse import parse_qsl, urlsplit

import orjson

from proxy.redact import REDACTED
from proxy.upstream import HOP_BY_HOP

Headers = tuple[tuple[str, str], ...]
MatchKey = tuple[Hashable, ...]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request as recorded; `uri` is the upstream's absolute URL."""

    method: str
    uri: str
    headers: Headers = ()
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class RecordedResponse:
    """A response as recorded (body already decoded for the cassette)."""

    status: int
    reason: str
    headers: Headers = ()
    body: bytes = b""


@dataclass(slots=True)
class Interaction:
    """One request and the response it got.

    `checked` caches the spec violations of the recorded response, filled in by the gateway
    the first time the interaction is played.
    """

    request: RecordedRequest
    response: RecordedResponse
    checked: list[Any] | None = field(default=None, compare=False, repr=False)


class Mismatch(TypedDict):
    """One matcher that failed between a recorded request and the received one."""

    matcher: str
    recorded: str
    received: str


class NearMiss(TypedDict):
    """A recorded request close to one that matched nothing, and how it differs."""

    method: str
    uri: str
    mismatches: list[Mismatch]


# Not part of what a client means by "the same request": connection management, and values
# the client stack fills in. `host` is covered by the host/port matchers (and is the
# gateway's own address on an incoming request).
_IGNORED_HEADERS = HOP_BY_HOP | {"trailers", "date", "content-length", "host"}


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _port(request: RecordedRequest) -> int | None:
    parts = urlsplit(request.uri)
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range: compare as "no port"
        return None
    return port if port is not None else _DEFAULT_PORTS.get(parts.scheme)


def _body(request: RecordedRequest) -> bytes:
    if not request.body:  # most requests: skip building orjson's exception
        return b""
    try:
        value = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        return request.body
    # A JSON text always re-serializes to JSON, which the raw fallback never is, so the two
    # kinds of key cannot collide.
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


# RFC 3986 appendix B: path and query of a URI. One regex match instead of urlsplit, which
# was most of the time it takes to index a 100,000-interaction cassette.
_PATH_QUERY = re.compile(r"(?:[^:/?#]+:)?(?://[^/?#]*)?([^?#]*)(?:\?([^#]*))?")


def _path(request: RecordedRequest) -> str:
    # As VCR.py: an empty path is "/" (RFC 3986 section 6.2.3).
    match = _PATH_QUERY.match(request.uri)
    return (match and match[1]) or "/"


def _query(request: RecordedRequest) -> tuple[tuple[str, str], ...]:
    match = _PATH_QUERY.match(request.uri)
    query = (match and match[2]) or ""
    if "%" in query or "+" in query:
        pairs = parse_qsl(query, keep_blank_values=True)
    else:  # nothing to decode: what parse_qsl returns, at a fraction of its cost
        pairs = [(n, v) for n, _, v in (p.partition("=") for p in query.split("&") if p)]
    return tuple(sorted(pairs))


def _headers(request: RecordedRequest) -> Headers:
    # A redacted value stands for a secret we no longer know, so it cannot be compared;
    # pass incoming requests through the same Redactor so their secrets drop out too.
    return tuple(
        sorted(
            (name.lower(), value.strip())
            for name, value in request.headers
            if name.lower() not in _IGNORED_HEADERS and value != REDACTED
        )
    )


def _uri(request: RecordedRequest) -> str:
    # As VCR.py: an empty path is "/" (RFC 3986 section 6.2.3).
    parts = urlsplit(request.uri)
    return parts._replace(path=parts.path or "/").geturl()


_MATCHERS: dict[str, Callable[[RecordedRequest], Hashable]] = {
    "method": lambda r: r.method,
    "scheme": lambda r: urlsplit(r.uri).scheme,
    "host": lambda r: urlsplit(r.uri).hostname,
    "port": _port,
    "path": _path,
    "query": _query,
    "body": _body,
    "raw_body": lambda r: r.body,
    "headers": _headers,
    "uri": _uri,
}

#: Method, path, query and the JSON body compared as data.
DEFAULT_MATCH_ON: tuple[str, ...] = ("method", "path", "query", "body")

#: Matcher names, as VCR.py spells them.
MATCHERS: tuple[str, ...] = tuple(_MATCHERS)

# Secondary indexes for `nearest`: always by method and path, whatever is matched on, so a
# miss on e.g. `uri` still finds recordings of the same endpoint.
_HINTS = ("method", "path")
_MAX_CANDIDATES = 300
_TEXT_LIMIT = 200


@dataclass(slots=True, eq=False)
class _Slot:
    """The recordings sharing one match key, and which to play next."""

    key: MatchKey
    interactions: list[Interaction]
    next: int = 0


class Cassette:
    """A named list of interactions, indexed by match key."""

    def __init__(
        self,
        name: str,
        match_on: Sequence[str] = DEFAULT_MATCH_ON,
        interactions: Iterable[Interaction] = (),
    ) -> None:
        unknown = [m for m in match_on if m not in _MATCHERS]
        if unknown:
            raise ValueError(
                f"unknown matcher {', '.join(map(repr, unknown))}; "
                f"valid matchers are {', '.join(MATCHERS)}"
            )
        self.name = name
        self.match_on = tuple(match_on)
        self.plays = 0
        self._names = tuple(dict.fromkeys((*self.match_on, *_HINTS)))
        self._interactions: list[Interaction] = []
        self._index: dict[MatchKey, _Slot] = {}
        self._by_value: dict[str, dict[Hashable, list[_Slot]]] = {n: {} for n in self._names}
        for interaction in interactions:
            self.add(interaction)

    def __len__(self) -> int:
        return len(self._interactions)

    @property
    def interactions(self) -> Sequence[Interaction]:
        """The interactions in recorded order (read-only)."""
        return self._interactions

    def add(self, interaction: Interaction) -> None:
        """Append an interaction and index it."""
        values = self._values(interaction.request)
        key = self._key(values)
        slot = self._index.get(key)
        if slot is None:
            slot = self._index[key] = _Slot(key, [])
            for name, value in values.items():
                self._by_value[name].setdefault(value, []).append(slot)
        slot.interactions.append(interaction)
        self._interactions.append(interaction)

    def find(self, request: RecordedRequest) -> Interaction | None:
        """The recording to play for `request`, or None; counts a play when found."""
        slot = self._index.get(self._key(self._values(request)))
        if slot is None:
            return None
        interaction = slot.interactions[min(slot.next, len(slot.interactions) - 1)]
        slot.next += 1
        self.plays += 1
        return interaction

    def nearest(self, request: RecordedRequest, limit: int = 3) -> list[NearMiss]:
        """The recorded requests closest to `request`, fewest failed matchers first.

        Examines at most a few hundred distinct recordings, whatever the cassette's size:
        those sharing the rarest of the request's matcher values (and its method or path)
        come first, so the likely culprits are among them.
        """
        values = self._values(request)
        key = self._key(values)
        candidates: dict[_Slot, None] = {}
        groups = sorted(
            (self._by_value[name].get(value, []) for name, value in values.items()), key=len
        )
        for group in [*groups, self._index.values()]:
            for slot in group:
                if len(candidates) >= _MAX_CANDIDATES:
                    break
                candidates[slot] = None

        def failed(slot: _Slot) -> list[int]:
            return [i for i, value in enumerate(key) if slot.key[i] != value]

        ranked = heapq.nsmallest(limit, ((len(failed(s)), n, s) for n, s in enumerate(candidates)))
        return [self._near_miss(slot, key, failed(slot)) for _, _, slot in ranked]

    def _values(self, request: RecordedRequest) -> dict[str, Hashable]:
        return {name: _MATCHERS[name](request) for name in self._names}

    def _key(self, values: dict[str, Hashable]) -> MatchKey:
        return tuple(values[name] for name in self.match_on)

    def _near_miss(self, slot: _Slot, key: MatchKey, failed: list[int]) -> NearMiss:
        recorded = slot.interactions[0].request
        mismatches: list[Mismatch] = []
        for i in failed:
            name = self.match_on[i]
            mine, theirs = slot.key[i], key[i]
            if name == "headers" and isinstance(mine, tuple) and isinstance(theirs, tuple):
                # Whole header sets hide the difference; show only what differs.
                mine, theirs = (
                    tuple(p for p in mine if p not in theirs),
                    tuple(p for p in theirs if p not in mine),
                )
            mismatches.append(
                {"matcher": name, "recorded": _show(name, mine), "received": _show(name, theirs)}
            )
        return {"method": recorded.method, "uri": recorded.uri, "mismatches": mismatches}


def _show(matcher: str, value: Hashable) -> str:
    """A matcher's normalized value as short text for a near-miss report."""
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
    elif matcher == "query" and isinstance(value, tuple):
        text = "&".join(f"{name}={v}" for name, v in value)
    elif matcher == "headers" and isinstance(value, tuple):
        text = "; ".join(f"{name}: {v}" for name, v in value)
    else:
        text = "" if value is None else str(value)
    if not text:
        return "(none)"
    return text if len(text) <= _TEXT_LIMIT else text[: _TEXT_LIMIT - 1] + "…"
