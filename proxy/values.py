"""Parsers of option values: text in, a typed value out, or `ValueError` saying what was
expected (the caller adds the option's name)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

#: The longest delay `--latency` and `Prefer: delay=` take, in milliseconds.
MAX_DELAY_MS = 60_000


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


def delay_ms(text: str) -> int:
    """A delay in whole milliseconds, 0 to `MAX_DELAY_MS` (`--latency`, `Prefer: delay=`)."""
    stripped = text.strip()
    if not stripped.isdigit():
        raise ValueError(f"expected milliseconds 0-{MAX_DELAY_MS}, got {text!r}")
    value = int(stripped)
    if value > MAX_DELAY_MS:
        raise ValueError(f"{value} ms is above the limit of {MAX_DELAY_MS} ms")
    return value


def latency(text: str) -> tuple[int, int]:
    """`MS` or `MIN-MAX` milliseconds, as (min, max); MIN above MAX is refused."""
    low, dash, high = text.partition("-")
    if not dash:
        value = delay_ms(text)
        return value, value
    low_ms, high_ms = delay_ms(low), delay_ms(high)
    if low_ms > high_ms:
        raise ValueError(f"MIN-MAX with MIN {low_ms} above MAX {high_ms}, got {text!r}")
    return low_ms, high_ms


def origins(text: str) -> tuple[str, ...]:
    """Comma-separated origins (`scheme://host[:port]`), lower-cased as browsers send them."""
    origins = []
    for item in comma_list(text):
        parts = urlsplit(item)
        if not parts.scheme or not parts.netloc or parts.path not in ("", "/"):
            raise ValueError(f"expected an origin such as http://127.0.0.1:8080, got {item!r}")
        if parts.query or parts.fragment or "@" in parts.netloc:
            raise ValueError(f"an origin has no query, fragment or user, got {item!r}")
        origins.append(f"{parts.scheme}://{parts.netloc}".lower())
    return tuple(origins)


def positive_count(text: str) -> int:
    """A whole number of at least 1."""
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ValueError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)
