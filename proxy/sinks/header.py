"""The `sl-violations` response header (Prism's format), on exchanges that had any."""

from __future__ import annotations

from aiohttp import web

from proxy.exchange import Exchange
from proxy.report import ExchangeReport
from proxy.responses import VERDICT_HEADER
from proxy.violations import header_value


class ViolationsHeader:
    """Sets `sl-violations` to the exchange's violations; absent when there are none."""

    takes_clean = False  # only exchanges that had violations

    def emit(
        self, report: ExchangeReport, response: web.StreamResponse, ex: Exchange | None
    ) -> None:
        """Add the header to the response about to be sent."""
        response.headers[VERDICT_HEADER] = header_value(report.violations)
