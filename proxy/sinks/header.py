"""The `sl-violations` response header (Prism's format), on exchanges that had any."""

from __future__ import annotations

from aiohttp import web

from proxy.report import ExchangeReport
from proxy.violations import header_value


class ViolationsHeader:
    """Sets `sl-violations` to the exchange's violations; absent when there are none."""

    takes_clean = False  # only exchanges that had violations

    def emit(self, report: ExchangeReport, response: web.StreamResponse) -> None:
        """Add the header to the response about to be sent."""
        if report.violations:
            response.headers["sl-violations"] = header_value(report.violations)
