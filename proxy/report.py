"""What one exchange amounts to (`ExchangeReport`), and how log lines are written.

Every exchange the gateway answers ends in one `ExchangeReport`, handed to the sinks
(`proxy.sinks`). Logging goes to stderr as text or JSON lines (`configure_logging`).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TextIO

import orjson

from proxy.settings import LOG_FORMATS, LogFormat
from proxy.violations import Violation

# Attributes every LogRecord has; whatever else is in `record.__dict__` came from `extra=`.
_RECORD_ATTRIBUTES: Final = frozenset(
    logging.LogRecord("", logging.INFO, "", 0, "", (), None).__dict__
) | {"message", "asctime", "taskName"}

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass(slots=True)
class ExchangeReport:
    """What happened in one exchange, as the sinks need it.

    `time` is the unix time the request arrived; `path` is the request path without its query
    string (a query can carry credentials: it is cut off again before anything is emitted).
    `operation_id` is None when the request matched no operation of the spec. `source` is the
    `X-Portal-Proxy-Source` value; `upstream_latency` is in seconds, None without an upstream.
    """

    request_id: str
    time: float
    mode: str
    method: str
    path: str
    operation_id: str | None
    status: int
    source: str
    violations: list[Violation]
    upstream_latency: float | None = None
    duration: float = 0.0  # seconds from the request's arrival to its answer
    query: str = ""  # the raw query string; only the access log shows it, redacted

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data (what `GET /__proxy/violations` lists)."""
        return {
            "request_id": self.request_id,
            "time": self.time,
            "mode": self.mode,
            "method": self.method,
            "path": safe_path(self.path),
            "operation_id": self.operation_id,
            "status": self.status,
            "source": self.source,
            "upstream_latency": self.upstream_latency,
            "violations": list(self.violations),
        }


def safe_path(path: str) -> str:
    """The path without its query string, which may hold credentials."""
    return path.partition("?")[0]


class JsonFormatter(logging.Formatter):
    """Format log records as JSON lines (orjson), with the `extra=` fields as top-level keys.

    The standard keys `time` (ISO 8601, UTC), `level`, `logger` and `message` come first and
    are never overwritten by an extra of the same name.
    """

    def format(self, record: logging.LogRecord) -> str:
        """One JSON object, on one line, for the record."""
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES:
                out.setdefault(key, value)
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack_info"] = self.formatStack(record.stack_info)
        try:
            encoded = orjson.dumps(out, default=repr, option=orjson.OPT_NON_STR_KEYS)
        except orjson.JSONEncodeError:
            # A value orjson refuses even through `default` (an int beyond 64 bits, a cycle):
            # a log line must still come out, so such values are logged as their repr.
            encoded = orjson.dumps({key: _plain(value) for key, value in out.items()})
        return encoded.decode()


def _plain(value: object) -> object:
    return value if isinstance(value, str | bool | float | None) else repr(value)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is at the time (pytest and daemons swap it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass  # the stream is always the current stderr


def configure_logging(fmt: LogFormat, level: int = logging.INFO) -> logging.Handler:
    """Log to stderr as `text` or `json` lines at `level`, on the root logger.

    Idempotent: a second call reconfigures the handler the first one installed rather than
    adding another, so no line is ever written twice. Returns that handler.
    """
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {fmt!r}")
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, _StderrHandler)), None)
    if handler is None:
        handler = _StderrHandler()
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.setLevel(level)
    return handler
