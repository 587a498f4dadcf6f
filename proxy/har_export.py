"""A cassette as HAR 1.2, the file Chromium's network panel and HAR viewers open."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from proxy import __version__
from proxy.cassette import Headers, Interaction
from proxy.har import HAR_VERSION
from proxy.redact import Redactor
from proxy.storage import redacted


def export_har(
    interactions: Sequence[Interaction], started: dt.datetime, redactor: Redactor
) -> dict[str, Any]:
    """A HAR 1.2 document of the interactions, in order, secrets redacted.

    Redacted again because not every cassette was written by us: one VCR.py recorded keeps
    `Authorization` verbatim, and a HAR is made to be shared.
    A cassette keeps no timings: an entry starts at its response's `Date`, else at
    `started` (plus a millisecond per entry, so viewers keep the order), and takes no time.
    """
    entries = []
    for index, interaction in enumerate(interactions):
        when = _date(interaction.response.headers) or started + dt.timedelta(milliseconds=index)
        entries.append(_entry(redacted(redactor, interaction), when))
    return {
        "log": {
            "version": HAR_VERSION,
            "creator": {"name": "portal-proxy", "version": __version__},
            "pages": [],
            "entries": entries,
        }
    }


def _entry(interaction: Interaction, when: dt.datetime) -> dict[str, Any]:
    request, response = interaction.request, interaction.response
    har_request: dict[str, Any] = {
        "method": request.method,
        "url": request.uri,
        "httpVersion": "HTTP/1.1",
        "headers": _har_headers(request.headers),
        "queryString": [
            {"name": n, "value": v}
            for n, v in parse_qsl(urlsplit(request.uri).query, keep_blank_values=True)
        ],
        "cookies": _cookies(request.headers, "cookie"),
        "headersSize": -1,
        "bodySize": len(request.body),
    }
    if request.body:
        text, encoding = _text(request.body)
        har_request["postData"] = {
            "mimeType": _header(request.headers, "content-type") or "",
            "text": text,
            **({"encoding": encoding} if encoding else {}),
        }
    text, encoding = _text(response.body)
    content = {
        "size": len(response.body),
        "mimeType": _header(response.headers, "content-type") or "x-unknown",
        "text": text,
        **({"encoding": encoding} if encoding else {}),
    }
    return {
        "startedDateTime": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "time": 0,
        "request": har_request,
        "response": {
            "status": response.status,
            "statusText": response.reason,
            "httpVersion": "HTTP/1.1",
            "headers": _har_headers(response.headers),
            "cookies": _cookies(response.headers, "set-cookie"),
            "content": content,
            "redirectURL": _header(response.headers, "location") or "",
            "headersSize": -1,
            "bodySize": len(response.body),
        },
        "cache": {},
        "timings": {"blocked": -1, "dns": -1, "connect": -1, "send": 0, "wait": 0, "receive": 0},
    }


def _har_headers(headers: Headers) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in headers]


def _header(headers: Headers, wanted: str) -> str | None:
    return next((v for n, v in headers if n.lower() == wanted), None)


def _cookies(headers: Headers, which: str) -> list[dict[str, str]]:
    """Cookies named in `Cookie` / `Set-Cookie` (their values are redacted in a cassette)."""
    cookies = []
    for name, value in headers:
        if name.lower() != which:
            continue
        pieces = value.split(";") if which == "cookie" else value.split(";")[:1]
        for piece in pieces:
            key, equals, val = piece.strip().partition("=")
            if equals:
                cookies.append({"name": key, "value": val})
    return cookies


def _text(body: bytes) -> tuple[str, str | None]:
    try:
        return body.decode("utf-8"), None
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), "base64"


def _date(headers: Headers) -> dt.datetime | None:
    value = _header(headers, "date")
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
