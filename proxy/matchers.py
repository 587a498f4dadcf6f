"""Matchers: a request's normalized value for each of VCR.py's matcher names.

A request's match key is the tuple of these values for the configured matchers; equal keys
mean "the same request" (see `proxy.cassette`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from urllib.parse import parse_qsl, urlsplit

import orjson

from proxy.jsonout import dumps as dumps_json
from proxy.recorded import Headers, RecordedRequest
from proxy.redact import REDACTED
from proxy.upstream import HOP_BY_HOP

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


def canonical_body(body: bytes) -> bytes:
    """The `body` matcher's value: a JSON body re-serialized compact with sorted keys.

    Anything that is not JSON is compared as the raw bytes. A body that is already in the
    canonical form is returned itself, so a recording's key shares its body's bytes.
    """
    if not body:  # most requests: skip building orjson's exception
        return b""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    # A JSON text always re-serializes to JSON, which the raw fallback never is, so the two
    # kinds of key cannot collide.
    canonical = dumps_json(value, sort_keys=True)
    if canonical == body:
        return body
    # orjson's result keeps its whole (4 KB) output buffer: a copy is its exact size, which
    # matters when 100,000 keys keep one each.
    return bytes(memoryview(canonical))


def _body(request: RecordedRequest) -> bytes:
    return canonical_body(request.body)


# RFC 3986 appendix B: path and query of a URI. One regex match instead of urlsplit, which
# was most of the time it takes to index a 100,000-interaction cassette.
_PATH_QUERY = re.compile(r"(?:[^:/?#]+:)?(?://[^/?#]*)?([^?#]*)(?:\?([^#]*))?")


def path_query(uri: str) -> tuple[str, str]:
    """The `path` matcher's value and the raw query of `uri`."""
    match = _PATH_QUERY.match(uri)  # never None: every part is optional
    # As VCR.py: an empty path is "/" (RFC 3986 section 6.2.3).
    return ((match and match[1]) or "/"), ((match and match[2]) or "")


def _path(request: RecordedRequest) -> str:
    return path_query(request.uri)[0]


def _query(request: RecordedRequest) -> tuple[tuple[str, str], ...]:
    return query_pairs(path_query(request.uri)[1])


def query_pairs(query: str) -> tuple[tuple[str, str], ...]:
    """The `query` matcher's value: the decoded name-value pairs, sorted."""
    if not query:
        return ()
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


MATCHER_FUNCTIONS: dict[str, Callable[[RecordedRequest], Hashable]] = {
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
MATCHERS: tuple[str, ...] = tuple(MATCHER_FUNCTIONS)
