"""Counts every exchange, and each violation, for `/__proxy/metrics`."""

from __future__ import annotations

from aiohttp import web

from proxy.exchange import Exchange
from proxy.metrics import Metrics
from proxy.report import ExchangeReport


class MetricsSink:
    """Feeds `proxy.metrics.Metrics` (rendered by the admin endpoint)."""

    takes_clean = True  # every exchange, clean ones too

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def emit(
        self, report: ExchangeReport, response: web.StreamResponse, ex: Exchange | None
    ) -> None:
        """Count the exchange (and observe the upstream's latency), then its violations."""
        self.metrics.observe_exchange(
            report.operation_id, report.status, report.source, report.upstream_latency
        )
        if report.violations:
            self.metrics.count_violations(report.operation_id, report.violations)
