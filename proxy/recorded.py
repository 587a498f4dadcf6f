"""What a cassette holds: recorded requests and responses, as plain frozen values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Headers = tuple[tuple[str, str], ...]


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
