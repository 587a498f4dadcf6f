"""Recorded interactions in memory, found by a hash of the request's match key.

A request's match key is the tuple of its normalized values for the configured matchers
(VCR.py's names, `proxy.matchers`). Finding a recording is one dict lookup, never a scan;
the same request recorded several times plays back in order, the last one repeating
(VCR.py's `allow_playback_repeats` behaviour for the final recording).

A cassette can hold 100,000 recordings, so per recording only the key is kept: the values
`nearest` needs for every matcher are indexed on the first miss, not at load.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterable, Sequence
from typing import TypedDict

from proxy.matchers import (
    DEFAULT_MATCH_ON,
    MATCHER_FUNCTIONS,
    MATCHERS,
    canonical_body,
    path_query,
    query_pairs,
)
from proxy.memo import Memo
from proxy.recorded import Headers, Interaction, RecordedRequest, RecordedResponse

# Re-exported: the data and matcher names were defined here first.
__all__ = [
    "DEFAULT_MATCH_ON",
    "MATCHERS",
    "Cassette",
    "Headers",
    "Interaction",
    "MatchKey",
    "Mismatch",
    "NearMiss",
    "RecordedRequest",
    "RecordedResponse",
    "canonical_body",
]

MatchKey = tuple[Hashable, ...]


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


# Secondary indexes for `nearest`: always by method and path, whatever is matched on, so a
# miss on e.g. `uri` still finds recordings of the same endpoint.
_HINTS = ("method", "path")
_MAX_CANDIDATES = 300
_TEXT_LIMIT = 200

# Memos of recently computed keys (by method, URI and body) and canonical bodies: a client
# repeats its requests, and a cassette its bodies. Bounded, as the spec's route cache is:
# emptied when full. Bodies above the size limit are not kept.
_MEMO_SIZE = 4096
_MEMO_BODY_MAX = 1024


class _Slot:
    """The recordings sharing one match key, and how many times the key was played.

    Only a key recorded several times, or played, has one: the index maps most of the keys
    of a large cassette straight to their one recording.
    """

    __slots__ = ("first", "more", "played")

    def __init__(self, first: Interaction, played: int = 0) -> None:
        self.first = first
        self.more: list[Interaction] | None = None  # a played key may have just the one
        self.played = played

    def add(self, interaction: Interaction) -> None:
        """Another recording of the key, played after those before it."""
        if self.more is None:
            self.more = [interaction]
        else:
            self.more.append(interaction)

    def play(self) -> Interaction:
        """The next recording: in recorded order, the last one repeating."""
        played = self.played
        self.played = played + 1
        more = self.more
        if played == 0 or more is None:
            return self.first
        return more[min(played, len(more)) - 1]


class Cassette:
    """A named list of interactions, indexed by match key."""

    def __init__(
        self,
        name: str,
        match_on: Sequence[str] = DEFAULT_MATCH_ON,
        interactions: Iterable[Interaction] = (),
    ) -> None:
        unknown = [m for m in match_on if m not in MATCHER_FUNCTIONS]
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
        self._index: dict[MatchKey, Interaction | _Slot] = {}
        # Built by the first `nearest`: per matcher, the keys having each value.
        self._by_value: dict[str, dict[Hashable, list[MatchKey]]] | None = None
        self._bodies: Memo[bytes, bytes] = Memo(_MEMO_SIZE)
        self._keys: Memo[tuple[str, str, bytes], MatchKey] = Memo(_MEMO_SIZE)
        self._default = self.match_on == DEFAULT_MATCH_ON
        # A key that depends on the headers cannot be remembered by method, URI and body.
        self._memo_keys = "headers" not in self.match_on
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
        key = self._key_of(interaction.request)
        entry = self._index.get(key)
        if entry is None:
            self._index[key] = interaction
            if self._by_value is not None:
                self._index_values(self._by_value, key, interaction)
        elif isinstance(entry, _Slot):
            entry.add(interaction)
        else:
            slot = self._index[key] = _Slot(entry)
            slot.add(interaction)
        self._interactions.append(interaction)

    def find(self, request: RecordedRequest) -> Interaction | None:
        """The recording to play for `request`, or None; counts a play when found."""
        key = self._key(request)
        entry = self._index.get(key)
        if entry is None:
            return None
        self.plays += 1
        if isinstance(entry, _Slot):
            return entry.play()
        # Remember the play: a recording added for the same request later plays next.
        self._index[key] = _Slot(entry, played=1)
        return entry

    def nearest(self, request: RecordedRequest, limit: int = 3) -> list[NearMiss]:
        """The recorded requests closest to `request`, fewest failed matchers first.

        Examines at most a few hundred distinct recordings, whatever the cassette's size:
        those sharing the rarest of the request's matcher values (and its method or path)
        come first, so the likely culprits are among them.
        """
        values = {name: MATCHER_FUNCTIONS[name](request) for name in self._names}
        key = tuple(values[name] for name in self.match_on)
        if self._by_value is None:
            self._by_value = {name: {} for name in self._names}
            for recorded, entry in self._index.items():
                self._index_values(self._by_value, recorded, _first(entry))
        candidates: dict[MatchKey, None] = {}
        groups = sorted(
            (self._by_value[name].get(value, []) for name, value in values.items()), key=len
        )
        for group in [*groups, self._index]:
            for recorded in group:
                if len(candidates) >= _MAX_CANDIDATES:
                    break
                candidates[recorded] = None

        def failed(recorded: MatchKey) -> list[int]:
            return [i for i, value in enumerate(key) if recorded[i] != value]

        ranked = heapq.nsmallest(limit, ((len(failed(k)), n, k) for n, k in enumerate(candidates)))
        return [self._near_miss(recorded, key, failed(recorded)) for _, _, recorded in ranked]

    def _key(self, request: RecordedRequest) -> MatchKey:
        """The match key of an incoming request (remembered: clients repeat requests)."""
        if not self._memo_keys:
            return self._key_of(request)
        memo = (request.method, request.uri, request.body)
        key = self._keys.get(memo)
        if key is None:
            key = self._key_of(request)
            if len(request.body) <= _MEMO_BODY_MAX:
                self._keys.keep(memo, key)
        return key

    def _key_of(self, request: RecordedRequest) -> MatchKey:
        if self._default:  # the same values, with one split of the URI for path and query
            path, query = path_query(request.uri)
            return (request.method, path, query_pairs(query), self._canonical_body(request.body))
        return tuple(
            [
                self._canonical_body(request.body)
                if name == "body"
                else MATCHER_FUNCTIONS[name](request)
                for name in self.match_on
            ]
        )

    def _canonical_body(self, body: bytes) -> bytes:
        """`canonical_body`, remembered: one body recorded many times is parsed once."""
        known = self._bodies.get(body)
        if known is None:
            known = canonical_body(body)
            if len(body) <= _MEMO_BODY_MAX:
                self._bodies.keep(body, known)
        return known

    def _index_values(
        self,
        by_value: dict[str, dict[Hashable, list[MatchKey]]],
        key: MatchKey,
        first: Interaction,
    ) -> None:
        values: dict[str, Hashable] = dict(zip(self.match_on, key, strict=True))
        for name in _HINTS:
            if name not in values:
                values[name] = MATCHER_FUNCTIONS[name](first.request)
        for name, value in values.items():
            by_value[name].setdefault(value, []).append(key)

    def _near_miss(self, key: MatchKey, wanted: MatchKey, failed: list[int]) -> NearMiss:
        recorded = _first(self._index[key]).request
        mismatches: list[Mismatch] = []
        for i in failed:
            name = self.match_on[i]
            mine, theirs = key[i], wanted[i]
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


def _first(entry: Interaction | _Slot) -> Interaction:
    return entry.first if isinstance(entry, _Slot) else entry


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
