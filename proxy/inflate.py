"""Undo a gzip or deflate `Content-Encoding`, bounded: the one inflater of the package.

Used by the recorder (to store readable bodies), by cassette loading (to tell a body VCR.py
stored decoded from one still compressed) and by validation (to read a compressed response).
A body that is not one whole stream, that has data after its end, or that would inflate past
`MAX_INFLATED` bytes is not inflated: callers keep what was sent, or report it.
"""

from __future__ import annotations

import zlib

#: Bodies are inflated up to this size; a bigger one is kept compressed or reported.
MAX_INFLATED = 64 * 1024 * 1024

#: The codings `inflate` undoes (lower case).
INFLATABLE = frozenset({"gzip", "x-gzip", "deflate"})


def inflate(encoding: str | None, body: bytes, limit: int | None = None) -> bytes | None:
    """`body` decoded from the `Content-Encoding` value `encoding`, or None if it cannot be.

    No encoding (or `identity`) returns `body` itself. `limit` defaults to `MAX_INFLATED`
    (read when called, so a test can lower it).
    """
    coding = (encoding or "identity").strip().lower()
    if coding in ("identity", ""):
        return body
    if coding not in INFLATABLE:
        return None
    bound = MAX_INFLATED if limit is None else limit
    # deflate is zlib-wrapped per RFC 9110, but some servers send it raw.
    attempts = (zlib.MAX_WBITS, -zlib.MAX_WBITS) if coding == "deflate" else (zlib.MAX_WBITS | 16,)
    for wbits in attempts:
        plain = _inflate(body, wbits, bound)
        if plain is not None:
            return plain
    return None


def _inflate(data: bytes, wbits: int, limit: int) -> bytes | None:
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error:
        return None
    if len(out) > limit or not inflater.eof or inflater.unused_data:
        return None  # a zip bomb, a truncated stream, trailing data: not one whole body
    return out
