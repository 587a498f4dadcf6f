"""The most recent exchanges that had violations, for `GET /__proxy/violations`."""

from __future__ import annotations

from collections import deque
from typing import Any

from aiohttp import web

from proxy.exchange import Exchange
from proxy.metrics import operation_label
from proxy.report import ExchangeReport


class RecentViolations:
    """A bounded ring of reports with violations, newest first."""

    takes_clean = False  # only exchanges that had violations

    def __init__(self, size: int = 1000) -> None:
        if size < 1:
            raise ValueError(f"the recent list must hold at least 1 report, got {size}")
        # Newest on the left: `appendleft` makes a full deque drop the oldest, on the right.
        self._recent: deque[ExchangeReport] = deque(maxlen=size)

    def emit(
        self, report: ExchangeReport, response: web.StreamResponse, ex: Exchange | None
    ) -> None:
        """Keep the report (it had violations; kept as is: reports are not mutated)."""
        self._recent.appendleft(report)

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
