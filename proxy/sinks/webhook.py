"""Posts each new distinct violation to `--alert-webhook` (see `proxy.webhook`)."""

from __future__ import annotations

from aiohttp import web

from proxy.exchange import Exchange
from proxy.metrics import Metrics
from proxy.report import ExchangeReport
from proxy.webhook import WebhookAlerter


class WebhookSink:
    """Offers exchanges with violations to the webhook's queue; never waits on the network."""

    takes_clean = False  # only exchanges that had violations

    def __init__(self, url: str, window: float, metrics: Metrics) -> None:
        self.alerter = WebhookAlerter(url, window=window, metrics=metrics)

    def emit(
        self, report: ExchangeReport, response: web.StreamResponse, ex: Exchange | None
    ) -> None:
        """Queue the report's new violations for delivery."""
        self.alerter.offer(report)

    async def start(self) -> None:
        """Start the sender task."""
        await self.alerter.start()

    async def close(self) -> None:
        """Stop the sender after a short, bounded drain."""
        await self.alerter.close()
