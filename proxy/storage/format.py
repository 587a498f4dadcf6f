"""The cassette format: VCR.py's version-1 YAML, in a layout recording can append to.

The files we write are plain VCR.py cassettes laid out so that recording can append:
`version: 1` first, `interactions:` last, and each interaction one line, a YAML flow mapping
written as JSON (JSON is YAML flow syntax)::

    # portal-proxy cassette (...)
    version: 1
    interactions:
    - {"request": {...}, "response": {...}}
    - {"request": {...}, "response": {...}}

Lines are ASCII (other characters are `\\u`/`\\U` escapes), so a write cut by a kill cannot
split a UTF-8 sequence (see `proxy.storage.writer` for the append protocol).
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterable
from typing import Any

import orjson

from proxy.cassette import Headers, Interaction
from proxy.inflate import INFLATABLE, inflate

HEADER = (
    b"# portal-proxy cassette (VCR.py format, version 1): one interaction per line, each a YAML"
    b" flow mapping (JSON), so that recording can append; '# {' lines are unfinished appends.\n"
    b"version: 1\n"
    b"interactions:\n"
)

# What orjson writes raw but we escape: DEL, which YAML refuses, and everything non-ASCII
# (see the module docstring; YAML would also refuse the C1 controls and fold \x85, \u2028
# and \u2029 as line breaks). Only inside JSON strings, where `\uXXXX` means the same to
# JSON and YAML; YAML needs `\UXXXXXXXX` beyond the BMP, which orjson cannot read, so those
# rare items load through YAML.
_NOT_ASCII = re.compile(rb"[\x7f-\xff]+")

# orjson cannot write a YAML tag, so a binary body is written as this (random, so no real
# value can equal it) string and the quoted string then swapped for `!!binary "..."`.
_BINARY_MARK = f"portal-proxy-binary-{uuid.uuid4().hex}"


class CassetteError(ValueError):
    """A cassette file that cannot be loaded, and why."""


def decode_for_cassette(headers: Iterable[tuple[str, str]], body: bytes) -> tuple[Headers, bytes]:
    """Decompress a gzip or deflate body for the cassette, as VCR.py's
    `decode_compressed_response` does: drop `Content-Encoding`, fix `Content-Length`.

    Anything else (other or stacked encodings, a corrupt stream, a body too large once
    inflated: see `proxy.inflate`) is returned unchanged.
    """
    headers = tuple(headers)
    encodings = [v.strip().lower() for n, v in headers if n.lower() == "content-encoding"]
    if len(encodings) != 1 or encodings[0] not in INFLATABLE:
        return headers, body
    decoded = inflate(encodings[0], body)
    if decoded is None:
        return headers, body
    return without_encoding(headers, len(decoded)), decoded


def without_encoding(headers: Headers, length: int) -> Headers:
    """`headers` less `Content-Encoding`, with `Content-Length` set to `length`."""
    return tuple(
        (n, str(length) if n.lower() == "content-length" else v)
        for n, v in headers
        if n.lower() != "content-encoding"
    )


def _text_or_bytes(data: bytes) -> str | bytes:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def _headers_to_dict(headers: Headers) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    spelling: dict[str, str] = {}
    for name, value in headers:
        grouped.setdefault(spelling.setdefault(name.lower(), name), []).append(value)
    return grouped


def interaction_to_dict(interaction: Interaction) -> dict[str, Any]:
    """An interaction as VCR.py stores it (bodies as text when they are UTF-8, else bytes)."""
    request, response = interaction.request, interaction.response
    return {
        "request": {
            "body": _text_or_bytes(request.body) if request.body else None,
            "headers": _headers_to_dict(request.headers),
            "method": request.method,
            "uri": request.uri,
        },
        "response": {
            "body": {"string": _text_or_bytes(response.body)},
            "headers": _headers_to_dict(response.headers),
            "status": {"code": response.status, "message": response.reason},
        },
    }


def encode_interaction(interaction: Interaction) -> bytes:
    """One interaction as a line of our appendable layout: `- {...}`, ASCII, and a newline."""
    item = interaction_to_dict(interaction)
    binary: list[tuple[bytes, bytes]] = []
    for holder, key in ((item["request"], "body"), (item["response"]["body"], "string")):
        if isinstance(holder[key], bytes):
            mark = f"{_BINARY_MARK}-{len(binary)}"
            binary.append((orjson.dumps(mark), base64.b64encode(holder[key])))
            holder[key] = mark
    text = orjson.dumps(item)
    for quoted_mark, encoded in binary:
        text = text.replace(quoted_mark, b'!!binary "' + encoded + b'"')
    if _NOT_ASCII.search(text):
        text = _NOT_ASCII.sub(_escape, text)
    return b"- " + text + b"\n"


def _escape(match: re.Match[bytes]) -> bytes:
    return "".join(
        f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
        for code in map(ord, match.group().decode("utf-8"))
    ).encode("ascii")
