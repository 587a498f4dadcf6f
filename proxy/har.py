"""HAR 1.2 (HTTP Archive) read and turned into cassette interactions (`har_export`: back).

A browser's network panel ("Save all as HAR") and Playwright's `record_har_path` write
HAR; frontend developers often have their traffic in one already. Importing turns its
entries into interactions as the recorder would have written them: secrets redacted,
bodies decoded, no `Content-Encoding` left on a decoded body.

A file that is not HAR 1.2 is refused whole (`HarError` names the first bad field), so a
half-read archive never becomes a half-filled cassette.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson

from proxy.cassette import Headers, Interaction, RecordedRequest, RecordedResponse
from proxy.redact import Redactor
from proxy.spec import Spec
from proxy.storage import decode_for_cassette, redacted
from proxy.storage.format import without_encoding
from proxy.upstream import end_to_end

#: The only HAR version read and written (Chromium, Firefox and Playwright all write it).
HAR_VERSION = "1.2"


class HarError(ValueError):
    """A file that is not a HAR 1.2 archive, and the first field that shows it."""


@dataclass
class Imported:
    """What `import_entries` made of a HAR: the interactions, and the entries it skipped."""

    interactions: list[Interaction] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count

    def skip(self, reason: str) -> None:
        """Count one entry skipped for `reason`."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


# -- reading --------------------------------------------------------------------------------


def parse_har(data: bytes) -> list[dict[str, Any]]:
    """The entries of a HAR 1.2 document, each checked for the fields an import reads.

    Raises `HarError` naming what is wrong (bad JSON, a version other than 1.2, a missing or
    mistyped field, a body whose base64 does not decode).
    """
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise HarError(f"not JSON: {exc}") from exc
    log = _field(document, "log", dict, "")
    version = log.get("version")
    if version != HAR_VERSION:
        found = "missing" if version is None else repr(version)
        raise HarError(f"log.version is {found}; only HAR {HAR_VERSION} is read")
    entries: list[dict[str, Any]] = _field(log, "entries", list, "log")
    for index, entry in enumerate(entries):
        _check_entry(entry, f"log.entries[{index}]")
    return entries


def _check_entry(entry: object, where: str) -> None:
    if not isinstance(entry, dict):
        raise HarError(f"{where} is {_kind(entry)}, expected an object")
    request = _field(entry, "request", dict, where)
    response = _field(entry, "response", dict, where)
    _field(request, "method", str, f"{where}.request")
    _field(request, "url", str, f"{where}.request")
    _check_headers(request, f"{where}.request")
    _check_headers(response, f"{where}.response")
    status = _field(response, "status", int, f"{where}.response")
    if isinstance(status, bool):
        raise HarError(f"{where}.response.status is a boolean, expected a number")
    content = _field(response, "content", dict, f"{where}.response")
    _optional(content, "text", str, f"{where}.response.content")
    _optional(content, "encoding", str, f"{where}.response.content")
    _response_body(content, f"{where}.response.content")  # a bad base64 refuses the file
    post = _optional(request, "postData", dict, f"{where}.request")
    if post is not None:
        _optional(post, "text", str, f"{where}.request.postData")
        _optional(post, "params", list, f"{where}.request.postData")


def _check_headers(message: dict[str, Any], where: str) -> None:
    for index, header in enumerate(_field(message, "headers", list, where)):
        at = f"{where}.headers[{index}]"
        if not isinstance(header, dict):
            raise HarError(f"{at} is {_kind(header)}, expected an object")
        _field(header, "name", str, at)
        _field(header, "value", str, at)


def _field(holder: object, key: str, kind: type, where: str) -> Any:
    at = f"{where}.{key}" if where else key
    if not isinstance(holder, dict) or key not in holder:
        raise HarError(f"{at} is missing")
    value = holder[key]
    if not isinstance(value, kind):
        raise HarError(f"{at} is {_kind(value)}, expected {_kind(kind())}")
    return value


def _optional(holder: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if holder.get(key) is None:
        return None
    return _field(holder, key, kind, where)


def _kind(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", int: "a number"}
    return names.get(type(value), "a number" if isinstance(value, float) else "null")


def _response_body(content: dict[str, Any], where: str) -> bytes:
    text = content.get("text") or ""
    if content.get("encoding") == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except binascii.Error as exc:
            raise HarError(f"{where}.text is not valid base64: {exc}") from exc
    return str(text).encode("utf-8")


# -- import ---------------------------------------------------------------------------------


def import_entries(entries: Iterable[dict[str, Any]], spec: Spec, redactor: Redactor) -> Imported:
    """Interactions for the entries under the spec's base path, as the recorder writes them.

    Skipped (and counted by reason): entries outside the base path, CORS preflights (the
    gateway answers those itself and never records them), and requests that got no
    response (status 0: blocked, aborted or failed in the browser).
    """
    result = Imported()
    base = spec.base_path or "/"
    for entry in entries:
        request, response = entry["request"], entry["response"]
        if not spec.under_base(urlsplit(request["url"]).path):
            result.skip(f"outside {base}")
        elif response["status"] == 0:
            result.skip("no response (status 0)")
        elif _is_preflight(request):
            result.skip("CORS preflight")
        else:
            result.interactions.append(_interaction(request, response, redactor))
    return result


def _is_preflight(request: dict[str, Any]) -> bool:
    return request["method"].upper() == "OPTIONS" and any(
        h["name"].lower() == "access-control-request-method" for h in request["headers"]
    )


def _interaction(
    request: dict[str, Any], response: dict[str, Any], redactor: Redactor
) -> Interaction:
    # HTTP/2 pseudo-headers (`:authority`...) are not headers; hop-by-hop ones describe a
    # connection that is gone, and the body below is whole, so no Transfer-Encoding either.
    request_headers = end_to_end(_pairs(request["headers"]))
    body = _request_body(request)
    headers, content = _decoded(_pairs(response["headers"]), response)
    reason = response.get("statusText")
    interaction = Interaction(
        RecordedRequest(request["method"].upper(), request["url"], tuple(request_headers), body),
        RecordedResponse(
            response["status"], reason if isinstance(reason, str) else "", headers, content
        ),
    )
    return redacted(redactor, interaction)  # as when recording


def _pairs(headers: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(h["name"], h["value"]) for h in headers if not h["name"].startswith(":")]


def _request_body(request: dict[str, Any]) -> bytes:
    post = request.get("postData")
    if not post:
        return b""
    if isinstance(post.get("text"), str):
        return str(post["text"]).encode("utf-8")
    params = post.get("params") or []  # a form the tool split into fields
    return urlencode(
        [(str(p.get("name", "")), str(p.get("value", ""))) for p in params if isinstance(p, dict)]
    ).encode("ascii")


def _decoded(pairs: list[tuple[str, str]], response: dict[str, Any]) -> tuple[Headers, bytes]:
    """The response headers and body as the cassette keeps them (see `decode_for_cassette`).

    HAR's `content.text` is the body already decoded ("HTTP decoded text"), so a
    `Content-Encoding` header no longer describes it and is dropped; a tool that kept the
    compressed bytes (base64) gets them inflated, as the recorder would.
    """
    body = _response_body(response["content"], "response.content")
    headers, body = decode_for_cassette(end_to_end(pairs), body)
    return without_encoding(headers, len(body)), body
