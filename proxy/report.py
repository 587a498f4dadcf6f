"""Violation sinks: one log line, a ring of recent reports, metrics and the webhook.

Every exchange the gateway handles ends in one `ExchangeReport` handed to `Reporter.record`.
Exchanges without violations only bump counters; those with violations are also logged on
`portal_proxy.violations`, kept for `GET /__proxy/violations`, and offered to the webhook.
"""

from __future__ import annotations

import logging
import sys
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, TextIO

import orjson

from proxy.metrics import Metrics, operation_label
from proxy.violations import Violation, has_errors

if TYPE_CHECKING:
    from proxy.webhook import WebhookAlerter

LOG_FORMATS: Final = ("text", "json")

#: The logger every exchange with violations is logged on.
logger = logging.getLogger("portal_proxy.violations")

# Attributes every LogRecord has; whatever else is in `record.__dict__` came from `extra=`.
_RECORD_ATTRIBUTES: Final = frozenset(
    logging.LogRecord("", logging.INFO, "", 0, "", (), None).__dict__
) | {"message", "asctime", "taskName"}

_TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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


def describe_location(location: list[str | int], sep: str = ".") -> str:
    """A violation's location as text: `response.body.GrantType` (or with another separator)."""
    return sep.join(str(part) for part in location)


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


def configure_logging(fmt: str, level: int = logging.INFO) -> logging.Handler:
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
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT_FORMAT))
    root.setLevel(level)
    return handler


class Reporter:
    """The sinks every exchange report goes to: metrics, log, ring of recent reports, webhook.

    `log_format` shapes the log message: `text` puts the whole report in a readable one-liner;
    `json` keeps the message short, as the violations travel as structured fields (the `extra=`
    of the record, which `JsonFormatter` writes out) and would otherwise appear twice per line.
    """

    def __init__(
        self,
        log_format: str = "text",
        recent_size: int = 1000,
        webhook: WebhookAlerter | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """Set up the sinks; `metrics` defaults to the webhook's, else a fresh `Metrics`."""
        if log_format not in LOG_FORMATS:
            raise ValueError(
                f"log format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}"
            )
        if recent_size < 1:
            raise ValueError(f"recent_size must be at least 1, got {recent_size}")
        if metrics is None:
            metrics = webhook.metrics if webhook is not None else Metrics()
        elif webhook is not None and webhook.metrics is not metrics:
            raise ValueError("the webhook must count its alerts in the reporter's metrics")
        self.metrics: Metrics = metrics
        self.log_format = log_format
        self._webhook = webhook
        # Newest on the left: `appendleft` makes a full deque drop the oldest, on the right.
        self._recent: deque[ExchangeReport] = deque(maxlen=recent_size)

    def record(self, report: ExchangeReport) -> None:
        """Send one exchange's report to the sinks; synchronous, never blocks on I/O.

        The report is kept as is (not copied): do not mutate it afterwards.
        """
        self.metrics.observe_exchange(
            report.operation_id, report.status, report.source, report.upstream_latency
        )
        if not report.violations:
            return
        self.metrics.count_violations(report.operation_id, report.violations)
        self._recent.appendleft(report)
        self._log(report)
        if self._webhook is not None:
            self._webhook.offer(report)

    def count(
        self, operation_id: str | None, status: int, source: str, upstream_latency: float | None
    ) -> None:
        """Count an exchange that had no violation (the only sink it concerns: metrics)."""
        self.metrics.observe_exchange(operation_id, status, source, upstream_latency)

    def recent(
        self, since: float | None = None, operation: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Recent reports with violations, newest first, as JSON-ready data.

        `since` keeps reports strictly after that unix time; `operation` keeps one operationId
        (`unknown` selects the exchanges that matched none, as in the metrics); at most `limit`.
        """
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        out: list[dict[str, Any]] = []
        for report in self._recent:
            if len(out) >= limit:
                break
            if since is not None and report.time <= since:
                continue
            if operation is not None and operation_label(report.operation_id) != operation:
                continue
            out.append(report.to_json())
        return out

    async def start(self) -> None:
        """Start the webhook's sender, if there is a webhook."""
        if self._webhook is not None:
            await self._webhook.start()

    async def close(self) -> None:
        """Stop the webhook's sender (a short, bounded drain), if there is a webhook."""
        if self._webhook is not None:
            await self._webhook.close()

    def _log(self, report: ExchangeReport) -> None:
        level = logging.WARNING if has_errors(report.violations) else logging.INFO
        if not logger.isEnabledFor(level):
            return
        path = safe_path(report.path)
        count = len(report.violations)
        head = (
            f"{count} violation{'s' if count != 1 else ''} in {report.method} {path}"
            f" -> {report.status} [{operation_label(report.operation_id)}]"
        )
        if self.log_format == "text":
            details = "; ".join(
                f"{v['severity']} {describe_location(v['location'])} ({v['code']}): {v['message']}"
                for v in report.violations
            )
            message = f"{head} source={report.source} request_id={report.request_id}: {details}"
        else:
            message = head
        logger.log(
            level,
            "%s",
            message,
            extra={
                "request_id": report.request_id,
                "mode": report.mode,
                "method": report.method,
                "path": path,
                "operation_id": report.operation_id,
                "status": report.status,
                "source": report.source,
                "upstream_latency": report.upstream_latency,
                "violations": report.violations,
            },
        )
