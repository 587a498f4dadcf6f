"""Interactions from the data a cassette file parsed to (VCR.py's dict form).

Request bodies come in every form VCR.py writes: text, `!!binary`, a YAML mapping or list
(aiohttp's `json=`: kept as JSON text, which the `body` matcher compares as data), and the
bytes `proxy.yamlload` builds from file-like and generator bodies.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, TypeVar

import orjson

from proxy.cassette import Headers, Interaction, RecordedRequest, RecordedResponse
from proxy.inflate import INFLATABLE, inflate
from proxy.memo import Memo
from proxy.storage.format import CassetteError, without_encoding

log = logging.getLogger("proxy.storage")

# Values remembered while loading one file, to share equal ones (see `Shared`): emptied
# when full, so a file of all-different values does not keep all of them alive.
_SHARED_MAX = 4096

_T = TypeVar("_T")


def _to_bytes(value: object, what: str) -> bytes:
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes):
        return value
    if isinstance(value, dict | list | int | float):
        # VCR.py keeps aiohttp's `json=` body as the data itself: store it as JSON text.
        try:
            return orjson.dumps(value)
        except TypeError as exc:  # a set, a mapping with non-string keys...
            raise CassetteError(f"{what} is YAML data that is not JSON: {exc}") from exc
    raise CassetteError(f"{what} is not text, !!binary or JSON data but {type(value).__name__}")


class Shared:
    """Equal values of the interactions of one file, made one object.

    The interactions of a cassette repeat the same methods, reasons, header names and
    values, and often the same bodies: 100,000 copies of each would be most of the memory a
    loaded cassette takes.
    """

    __slots__ = ("_bodies", "_headers", "_values")

    def __init__(self) -> None:
        self._values: Memo[Any, Any] = Memo(_SHARED_MAX)
        self._bodies: Memo[str, bytes] = Memo(_SHARED_MAX)
        self._headers: Memo[bytes, Headers] = Memo(_SHARED_MAX)

    def value(self, value: _T) -> _T:
        """`value` (a string, or a tuple of strings), or an equal one seen before."""
        known: _T | None = self._values.get(value)
        return known if known is not None else self._values.keep(value, value)

    def body(self, value: object, what: str) -> bytes:
        """A body as bytes: VCR.py stores text (UTF-8), !!binary (bytes) or JSON data."""
        if not isinstance(value, str):
            return _to_bytes(value, what)
        known = self._bodies.get(value)
        return known if known is not None else self._bodies.keep(value, value.encode("utf-8"))

    def headers(self, value: object, what: str, *, json: bool = False) -> Headers:
        """Headers from VCR.py's mapping of names to lists of values.

        `json`: the mapping is one orjson parsed. Its JSON text then stands for it (equal
        texts, equal values), and finding that text is faster than building the headers.
        Not for what YAML parsed: orjson writes a YAML NaN, a timestamp or a tuple like
        other values, which `str` would not.
        """
        if not (json and value and isinstance(value, dict)):
            return self._headers_of(value, what)
        text = orjson.dumps(value)
        known = self._headers.get(text)
        if known is None:
            # An exact-size copy of the key: orjson's result keeps its 4 KB buffer.
            known = self._headers.keep(bytes(memoryview(text)), self._headers_of(value, what))
        return known

    def _headers_of(self, value: object, what: str) -> Headers:
        if not value:
            return ()
        if not isinstance(value, dict):
            raise CassetteError(f"{what} is not a mapping of names to lists of values")
        pairs: list[tuple[str, str]] = []
        # Plain loops, and str() only when needed: this runs for every interaction of a
        # 100,000-interaction cassette, and hand-written YAML may hold numbers.
        for name, values in value.items():
            key = name if isinstance(name, str) else str(name)
            if isinstance(values, list):
                for v in values:
                    pairs.append((key, v if isinstance(v, str) else str(v)))
            else:  # VCR.py reads a single value too
                pairs.append((key, str(values)))
        headers = tuple(pairs)
        known = self._values.get(headers)
        if known is not None:
            return known  # type: ignore[no-any-return]
        # New as a whole: share its pairs, some of which (a Date) differ from one to the next.
        return self.value(tuple(map(self.value, headers)))


def interaction_from_dict(item: object) -> Interaction:
    """An interaction from VCR.py's dict form; `CassetteError` says what is missing."""
    return interaction(item, Shared(), json=False)


def interaction(item: object, shared: Shared, *, json: bool) -> Interaction:
    """`item` as an `Interaction`, sharing equal values through `shared`.

    `json`: orjson parsed `item` (see `Shared.headers`).
    """
    # Assume the shape and explain only when it is wrong: this runs for each of 100,000
    # interactions, and a check per field would cost a fifth of the load time.
    data: Any = item
    try:
        request, response = data["request"], data["response"]
        status = response["status"]
        method, uri, code = request["method"], request["uri"], status["code"]
        reason, body = status.get("message"), response.get("body")
        valid = isinstance(method, str) and isinstance(uri, str) and isinstance(code, int)
    except (KeyError, TypeError, AttributeError):
        valid = False
    if not valid:
        raise CassetteError(_what_is_missing(item))
    # Positional arguments: keywords make building a frozen dataclass about 1.5 times slower.
    return Interaction(
        RecordedRequest(
            shared.value(method),
            uri,
            shared.headers(request.get("headers"), "request headers", json=json),
            shared.body(request.get("body"), "request body"),
        ),
        RecordedResponse(
            code,
            shared.value(reason if isinstance(reason, str) else str(reason or "")),
            shared.headers(response.get("headers"), "response headers", json=json),
            shared.body(body.get("string") if isinstance(body, dict) else body, "response body"),
        ),
    )


def _what_is_missing(item: object) -> str:
    if not isinstance(item, dict):
        return "is not a mapping with 'request' and 'response'"
    request, response = item.get("request"), item.get("response")
    if not isinstance(request, dict):
        return "has no 'request' mapping"
    if not isinstance(response, dict):
        return "has no 'response' mapping"
    if not isinstance(request.get("method"), str) or not isinstance(request.get("uri"), str):
        return "has a request without 'method' or 'uri'"
    return "has a response without 'status: {code: ...}'"


def serve_decoded(path: Path, interactions: list[Interaction]) -> None:
    """Drop `Content-Encoding` from responses whose body is stored decoded.

    VCR.py without `decode_compressed_response` stores the body its client already
    decompressed but keeps the header: served as is, a client would try to decode plain
    text and fail. One warning names the interactions changed.
    """
    encoded: dict[int, str | None] = {}  # by headers object: equal headers are shared
    changed: list[int] = []
    for number, item in enumerate(interactions):
        response = item.response
        headers = response.headers
        coding = encoded.get(id(headers), "")
        if coding == "":
            coding = encoded[id(headers)] = _coding(headers)
        if coding is None or not response.body or not _is_decoded(coding, response.body):
            continue
        fixed = without_encoding(headers, len(response.body))
        item.response = RecordedResponse(response.status, response.reason, fixed, response.body)
        changed.append(number)
    if changed:
        shown = ", ".join(map(str, changed[:20])) + (", ..." if len(changed) > 20 else "")
        log.warning(
            "%s: interaction%s %s: body stored decoded but Content-Encoding kept (VCR.py "
            "without decode_compressed_response); serving %s without Content-Encoding",
            path,
            "s" if len(changed) > 1 else "",
            shown,
            "them" if len(changed) > 1 else "it",
        )


def _coding(headers: Headers) -> str | None:
    for name, value in headers:
        if name.lower() == "content-encoding" and value.strip().lower() not in ("", "identity"):
            return value.strip().lower()
    return None


def _is_decoded(coding: str, body: bytes) -> bool:
    if coding in ("gzip", "x-gzip"):
        return not body.startswith(b"\x1f\x8b")  # every gzip stream starts so
    if coding in INFLATABLE:
        return inflate(coding, body) is None
    # br, zstd, stacked codings: compressed data is next to never valid UTF-8; text is.
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
