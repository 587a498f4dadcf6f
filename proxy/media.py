"""Media types: what a Content-Type names, whether it is JSON, which documented one fits."""

from __future__ import annotations

from proxy.operations import MediaType


def media_type_of(content_type: str | None) -> str:
    """`application/json; charset=utf-8` -> `application/json` (lower case)."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def is_json_media(media: str) -> bool:
    """True for `application/json` and `+json` suffixed types."""
    return media == "application/json" or media.endswith("+json")


def find_media(documented: tuple[MediaType, ...], media: str) -> MediaType | None:
    """The documented media type that a concrete one falls under (`*/*`, `type/*` too)."""
    wildcard: MediaType | None = None
    for candidate in documented:
        if candidate.media_type == media:
            return candidate
        kind, _, sub = candidate.media_type.partition("/")
        if wildcard is None and (kind == "*" or (sub == "*" and media.startswith(f"{kind}/"))):
            wildcard = candidate
    return wildcard
