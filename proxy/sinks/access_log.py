"""The access log: one line per request on `portal_proxy.access`, in the `--log-format`.

Text: `POST /portal-api/products/1/client_types 201 mock 1.2ms violations=0`. JSON: the
formatter's `time` plus `method`, `path`, `status`, `source`, `duration_ms`, `violations`.
Headers are never logged, and the values of query parameters that the spec's
`securitySchemes` name are redacted (`Redactor.uri`).

It is a sink, not a middleware, because the report already holds what a line needs (the
source, the number of violations, the duration): a middleware would have to guess them back
from the headers (`sl-violations` is cut at 8 KB). The requests that never reach the pipeline,
preflights and `/__proxy/*`, are handed to `own()` directly: they go to this sink and no
other, so a preflight is never counted, listed or alerted on.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from proxy.exchange import Exchange
from proxy.linewriter import LineWriter
from proxy.problems import SOURCE_HEADER
from proxy.redact import Redactor
from proxy.report import ExchangeReport
from proxy.settings import LogFormat

#: The logger every request is logged on, at INFO.
logger = logging.getLogger("portal_proxy.access")


class AccessLog:
    """Logs every exchange; `redactor` hides secret query parameter values.

    With a `writer` (the `portal-proxy` process, which owns stderr), lines go out in batches
    through `proxy.linewriter`; otherwise through `logging`, so that a gateway inside another
    program (the pytest plugin) logs only where that program's logging says.
    """

    takes_clean = True  # every exchange, clean ones too

    def __init__(
        self, log_format: LogFormat, redactor: Redactor, writer: LineWriter | None = None
    ) -> None:
        self.log_format = log_format
        self.redactor = redactor
        self.writer = writer

    def emit(
        self, report: ExchangeReport, response: web.StreamResponse, ex: Exchange | None
    ) -> None:
        """Log one line for the exchange."""
        writer = self.writer
        if writer is None and not logger.isEnabledFor(logging.INFO):
            return  # e.g. a gateway inside a test run where nobody configured logging
        path = report.path
        if report.query:
            path = self.redactor.uri(f"{path}?{report.query}")
        duration_ms = round(report.duration * 1000, 1)
        count = len(report.violations)
        if self.log_format == "text":
            message = (
                f"{report.method} {path} {report.status} {report.source} {duration_ms}ms "
                f"violations={count}"
            )
        else:
            message = f"{report.method} {path} {report.status}"
        fields = {
            "method": report.method,
            "path": path,
            "status": report.status,
            "source": report.source,
            "duration_ms": duration_ms,
            "violations": count,
        }
        if writer is not None:
            writer.info(message, fields)
        else:
            logger.info("%s", message, extra=fields)

    async def close(self) -> None:
        """Write the lines still queued (the gateway is stopping)."""
        if self.writer is not None:
            self.writer.flush()

    def own(self, request: web.BaseRequest, response: web.StreamResponse, started: float) -> None:
        """Log a request the gateway answered itself, outside the pipeline (a preflight, an
        admin endpoint); `started` is its `time.perf_counter()` on arrival."""
        self.emit(own_report(request, response, started), response, None)


def own_report(
    request: web.BaseRequest, response: web.StreamResponse, started: float
) -> ExchangeReport:
    """The report of a request the gateway answered itself: no operation, no violations."""
    return ExchangeReport(
        request_id="",
        time=time.time(),
        mode="",
        method=request.method,
        path=request.rel_url.raw_path,
        operation_id=None,
        status=response.status,
        source=response.headers.get(SOURCE_HEADER, "gateway"),
        violations=[],
        duration=time.perf_counter() - started,
        query=request.rel_url.raw_query_string,
    )
