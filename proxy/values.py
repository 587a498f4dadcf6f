"""Parsers of option values: text in, a typed value out, or `ValueError` saying what was
expected (the caller adds the option's name)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit


def port(text: str) -> int:
    """A TCP port, 0-65535 (0: any free one)."""
    try:
        port = int(text)
    except ValueError:
        raise ValueError(f"expected a port number 0-65535, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is out of range 0-65535")
    return port


def positive_float(text: str) -> float:
    """A positive, finite number (of seconds)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"expected a positive number, got {text!r}")
    return value


def size(text: str) -> int:
    """A size in bytes, with an optional k/m unit: `1048576`, `512k`, `1m`."""
    units = {"": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2}
    lowered = text.strip().lower()
    number = lowered.rstrip("kmib")
    unit = lowered[len(number) :]
    if unit not in units or not number.isdigit():
        raise ValueError(f"expected a size in bytes (e.g. 1048576, 512k, 1m), got {text!r}")
    value = int(number) * units[unit]
    if value <= 0:
        raise ValueError("expected a size above zero")
    return value


def choice(options: tuple[str, ...]) -> Callable[[str], str]:
    """A parser accepting only the given words."""

    def parse(text: str) -> str:
        if text not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {text!r}")
        return text

    return parse


def url(text: str) -> str:
    """An http(s) URL with no query or fragment, without a trailing slash."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http(s) URL such as http://portal:3001, got {text!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"the URL must not have a query or fragment, got {text!r}")
    return text.rstrip("/")


def comma_list(text: str) -> tuple[str, ...]:
    """`a, b,c` -> ("a", "b", "c")."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def boolean(text: str) -> bool:
    """`true`/`false` and their usual spellings (1/0, yes/no, on/off)."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def text(text: str) -> str:
    """Any text, as given."""
    return text


def pem(what: str) -> Callable[[str], Path]:
    """A parser of a PEM file's name: the file must exist and hold a `what` (certificate,
    key); `proxy.tls.check_pem` says what is wrong otherwise."""

    def parse(text: str) -> Path:
        if not text.strip():
            raise ValueError("expected a file name, got an empty value")
        from proxy.tls import check_pem

        check_pem(Path(text), what)
        return Path(text)

    return parse


def count(text: str) -> int:
    """A whole number of 0 or more."""
    if not text.strip().isdigit():
        raise ValueError(f"expected a whole number of 0 or more, got {text!r}")
    return int(text)
