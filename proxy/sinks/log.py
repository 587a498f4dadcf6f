"""One log line per exchange with violations, on `portal_proxy.violations`."""

from __future__ import annotations

import logging

from aiohttp import web

from proxy.exchange import Exchange
from proxy.metrics import operation_label
from proxy.report import ExchangeReport, safe_path
from proxy.settings import LogFormat
from proxy.violations import has_errors, violation_line

#: The logger every exchange with violations is logged on.
logger = logging.getLogger("portal_proxy.violations")


class ViolationLog:
    """Logs each exchange that had violations: WARNING when any is an Error, else INFO.

    `text` puts the whole report in a readable one-liner; `json` keeps the message short, as
    the violations travel as structured fields (the `extra=` of the record, which
    `proxy.report.JsonFormatter` writes out) and would otherwise appear twice per line.
    """

    takes_clean = False  # only exchanges that had violations

    def __init__(self, log_format: LogFormat = "text") -> None:
        self.log_format = log_format

    def emit(
        self, report: ExchangeReport, response: web.StreamResponse, ex: Exchange | None
    ) -> None:
        """Log the report (it had violations: `Sinks` hands this sink no other)."""
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
            details = "; ".join(violation_line(v) for v in report.violations)
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
