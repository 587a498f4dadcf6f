"""Secrets out of recordings: headers, query parameters and cookies replaced by a placeholder.

What counts as a secret comes from the OpenAPI document's `securitySchemes`, plus the
credentials every HTTP stack uses (`Authorization`, `Proxy-Authorization`, `Cookie`,
`Set-Cookie`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote_plus

#: What a secret value is replaced with.
REDACTED = "REDACTED"

# Credentials whatever the spec says: `http` schemes, OAuth2 and OpenID Connect all travel in
# `Authorization`, a forward proxy's credentials in `Proxy-Authorization`, and a browser's
# session in `Cookie` (the counterpart of `Set-Cookie`; a replay never needs its value).
_ALWAYS_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


class Redactor:
    """Replaces secret values with `REDACTED`, leaving everything else untouched.

    Header names compare case-insensitively; query parameter and cookie names are
    case-sensitive, as they are on the wire. `Cookie` and `Set-Cookie` values are always
    replaced whole.
    """

    __slots__ = ("_header_names", "_query_names")

    def __init__(
        self,
        header_names: Iterable[str] = (),
        query_names: Iterable[str] = (),
    ) -> None:
        self._header_names = _ALWAYS_SECRET_HEADERS | {name.lower() for name in header_names}
        self._query_names = frozenset(query_names)

    @classmethod
    def for_spec(cls, document: Mapping[str, Any], extra_headers: Iterable[str] = ()) -> Redactor:
        """The redactor of an OpenAPI document: its `securitySchemes`, plus `extra_headers`."""
        schemes = (document.get("components") or {}).get("securitySchemes") or {}
        return cls.from_security_schemes(schemes, extra_headers)

    @classmethod
    def from_security_schemes(
        cls, schemes: Mapping[str, Any], extra_headers: Iterable[str] = ()
    ) -> Redactor:
        """Build a redactor from an OpenAPI `components.securitySchemes` mapping.

        `apiKey` schemes name a header or query parameter (or a cookie, and `Cookie` is
        always redacted whole); every other scheme type
        (`http`, `oauth2`, `openIdConnect`) sends `Authorization`, which is always redacted.
        `extra_headers` adds header names the spec does not declare.
        """
        names: dict[str, list[str]] = {"header": list(extra_headers), "query": [], "cookie": []}
        for scheme in schemes.values():
            if not isinstance(scheme, Mapping) or scheme.get("type") != "apiKey":
                continue
            name, where = scheme.get("name"), scheme.get("in")
            if isinstance(name, str) and where in names:
                names[where].append(name)
        # An apiKey `in: cookie` needs nothing more: the whole Cookie header is redacted.
        return cls(names["header"], names["query"])

    def headers(self, pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """Return the header pairs in order, with secret values replaced."""
        redacted: list[tuple[str, str]] = []
        for name, value in pairs:
            lowered = name.lower()
            if lowered in self._header_names or lowered == "set-cookie":
                value = REDACTED
            redacted.append((name, value))
        return redacted

    def uri(self, url: str) -> str:
        """Return `url` with the values of secret query parameters replaced.

        Everything else (order, encoding, blank values, the fragment) is kept byte for byte,
        so a redacted URI differs from the original only where a secret was.
        """
        if not self._query_names or "?" not in url:
            return url
        base, _, rest = url.partition("?")
        query, hash_mark, fragment = rest.partition("#")
        parts = query.split("&")
        for i, part in enumerate(parts):
            name, equals, _value = part.partition("=")
            if equals and unquote_plus(name) in self._query_names:
                parts[i] = f"{name}={REDACTED}"
        return f"{base}?{'&'.join(parts)}{hash_mark}{fragment}"
