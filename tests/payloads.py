"""Bodies several test modules send or script: a valid client type, hostile request bodies."""

from __future__ import annotations

from typing import Any

import orjson

JSON_CT = [("Content-Type", "application/json")]


GOOD = {
    "Name": "foo",
    "ID": 11,
    "Description": "Web application",
    "GrantType": "pkce",
    "OktaAppType": "web",
    "CreatedAt": "2023-06-23 21:02",
    "UpdatedAt": "2023-06-23 21:02",
}


def body(**changes: Any) -> bytes:
    document = {**GOOD, **changes}
    return orjson.dumps({k: v for k, v in document.items() if v is not ...})


# (case, raw body, Content-Type, status, words the answer must contain)
BODIES: list[tuple[str, bytes, str | None, int, str]] = [
    (
        "100,000 levels of nesting",
        b"[" * 100_000 + b"]" * 100_000,
        "application/json",
        422,
        "not valid JSON",
    ),
    (
        "100,000 levels of objects",
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        "application/json",
        422,
        "not valid JSON",
    ),
    ("integer of 5,000 digits", b'{"ID": ' + b"9" * 5000 + b"}", "application/json", 422, "JSON"),
    ("NaN", b'{"ID": NaN}', "application/json", 422, "JSON"),
    ("invalid UTF-8", b'{"ID": 1, "Name": "\xc3\x28"}', "application/json", 422, "JSON"),
    ("UTF-16 body", '{"ID": 1}'.encode("utf-16"), "application/json", 422, "JSON"),
    # The last of duplicate keys is used (as Go's encoding/json), and judged by the schema.
    ("duplicate keys", b'{"ID": 1, "ID": "x"}', "application/json", 422, "must be integer"),
    ("wrong Content-Type", b'{"ID": 1}', "text/xml", 422, "Content-Type"),
    ("missing Content-Type", b'{"ID": 1}', None, 422, "Content-Type"),
    # The seed's requestBody is not `required`: an empty body is answered as `{}` is.
    ("empty body", b"", "application/json", 201, '"ID"'),
    ("NUL bytes", b'{"ID": 1}\x00\x00', "application/json", 422, "JSON"),
    ("a lone surrogate", b'"\\ud800"', "application/json", 422, "JSON"),
    ("a bare string", b'"x"', "application/json", 422, "must be object"),
]
