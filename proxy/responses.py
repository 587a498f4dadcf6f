"""Responses the gateway sends: JSON and empty answers of its own, and passthroughs.

A passthrough (upstream or cassette) must reach the client with exactly the headers it had:
aiohttp's server would otherwise add `Content-Type: application/octet-stream`, `Server` and
`Date`. The response is marked with the header names it really has, and the application's
`on_response_prepare` signal (`proxy.app`) removes whatever aiohttp added as the headers go
out (`strip_invented_headers`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from email.utils import format_datetime
from typing import Any

from aiohttp import hdrs, web

from proxy.jsonout import dumps as dumps_json
from proxy.problems import SOURCE_HEADER
from proxy.upstream import end_to_end

#: The header names a passthrough response really has (lower case).
PASSTHROUGH = web.ResponseKey("portal_proxy_passthrough", frozenset[str])

_INVENTED = (hdrs.CONTENT_TYPE, hdrs.SERVER, hdrs.DATE)


def json_response(status: int, value: object, source: str) -> web.Response:
    """A JSON response made by the gateway itself (mock bodies, portal-shaped errors)."""
    return json_bytes_response(status, dumps_json(value), source)


def empty_response(status: int, source: str) -> web.Response:
    """A response with no body (a status the spec documents without content)."""
    response = web.Response(status=status)
    response.headers[SOURCE_HEADER] = source
    return response


def json_bytes_response(status: int, body: bytes, source: str) -> web.Response:
    """`json_response` for a body already encoded."""
    response = web.Response(status=status, body=body, content_type="application/json")
    response.headers[SOURCE_HEADER] = source
    return response


Prepared = tuple[tuple[tuple[str, str], ...], frozenset[str]]


#: The header with the gateway's verdict, and the name an upstream's own one is sent under.
VERDICT_HEADER = "sl-violations"
UPSTREAM_VERDICT_HEADER = "upstream-sl-violations"


def prepare(headers: Iterable[tuple[str, str]]) -> Prepared:
    """Headers to send on a passthrough (end-to-end, no stale Content-Length) and the names
    the original really had; worked out once per recorded response.

    An upstream's `sl-violations` (a Prism in front of the portal) goes out renamed
    `upstream-sl-violations`: the client's `sl-violations` is only ever our own verdict.
    (Cassettes keep what the upstream sent; replay renames it here too.)
    """
    kept = end_to_end(headers)
    send = tuple(
        (UPSTREAM_VERDICT_HEADER if name.lower() == VERDICT_HEADER else name, value)
        for name, value in kept
        if name.lower() != "content-length"
    )
    return send, frozenset(name.lower() for name, _ in kept)


def passthrough(
    status: int,
    reason: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    source: str,
    *,
    refresh_date: bool = False,
    prepared: Prepared | None = None,
) -> web.Response:
    """Send a recorded or upstream response as it was: status, headers (less hop-by-hop)
    and body bytes. `refresh_date` replaces a recorded `Date` with the current time."""
    send, names = prepared if prepared is not None else prepare(headers)
    response = web.Response(status=status, reason=reason or None, body=body)
    out = response.headers
    out.extend(send)  # aiohttp sets Content-Length from the body
    if refresh_date and "date" in names:
        out["Date"] = http_date()
    out[SOURCE_HEADER] = source
    response[PASSTHROUGH] = names
    return response


_DATE_CACHE: list[Any] = [0, ""]


def http_date() -> str:
    """The current time as an HTTP `Date` value, formatted at most once a second."""
    now = int(time.time())
    if _DATE_CACHE[0] != now:
        _DATE_CACHE[0] = now
        _DATE_CACHE[1] = format_datetime(dt.datetime.fromtimestamp(now, dt.UTC), usegmt=True)
    return str(_DATE_CACHE[1])


def strip_invented_headers(response: web.StreamResponse) -> None:
    """Undo aiohttp's default headers on a passthrough (called as its headers are sent)."""
    real = response.get(PASSTHROUGH)
    if real is None:
        return
    for name in _INVENTED:
        if name.lower() not in real:
            response.headers.popall(name, None)
