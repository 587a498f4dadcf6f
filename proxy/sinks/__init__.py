"""Sinks: where a finished exchange's report goes.

Every exchange the gateway answers ends in one `ExchangeReport`, handed to each sink in
`build_sinks`'s list. A sink is one class in one file with an `emit(report, response, ex)`
method: it is synchronous and never waits on I/O (the webhook queues; the log writes a
line). Adding a sink is one new file here and one line in `build_sinks`.
"""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from proxy.exchange import Exchange
from proxy.linewriter import LineWriter
from proxy.metrics import Metrics
from proxy.redact import Redactor
from proxy.report import ExchangeReport
from proxy.settings import Settings
from proxy.sinks import access_log as access
from proxy.sinks.access_log import AccessLog
from proxy.sinks.exchanges import KeptExchanges
from proxy.sinks.header import ViolationsHeader
from proxy.sinks.log import ViolationLog
from proxy.sinks.metrics import MetricsSink
from proxy.sinks.recent import RecentViolations
from proxy.sinks.webhook import WebhookSink


class Sink(Protocol):
    """Takes the report of each finished exchange (before its response is sent)."""

    #: False for a sink that only acts on exchanges with violations: the usual, clean
    #: exchange then skips it (a call per sink per request is measurable on the hot path).
    takes_clean: bool

    def emit(
        self, report: ExchangeReport, response: web.StreamResponse, ex: Exchange | None
    ) -> None:
        """Take one exchange's report; `response` is still open for headers. `ex` is the
        exchange as read (None for a request the pipeline never saw): a sink may read its
        request, but must not keep it (no kept report holds a request or its body)."""


class Sinks:
    """The gateway's sinks, in order, and the three that other parts read from."""

    def __init__(
        self,
        sinks: list[Sink],
        metrics: Metrics,
        recent: RecentViolations,
        exchanges: KeptExchanges,
        access_log: AccessLog | None = None,
    ) -> None:
        self.all = sinks
        self.metrics = metrics
        self.recent = recent
        self.exchanges = exchanges
        #: Also takes the requests the pipeline never sees (preflights, `/__proxy/*`).
        self.access_log = access_log
        self._always = tuple(sink.emit for sink in sinks if sink.takes_clean)
        self._violating = tuple(sink.emit for sink in sinks if not sink.takes_clean)

    def emit(
        self, report: ExchangeReport, response: web.StreamResponse, ex: Exchange | None
    ) -> None:
        """Hand one report to every sink that takes it."""
        for emit in self._always:
            emit(report, response, ex)
        if not report.violations:
            return
        for emit in self._violating:
            emit(report, response, ex)

    async def start(self) -> None:
        """Start the sinks that run a task of their own (the webhook's sender)."""
        for sink in self.all:
            start = getattr(sink, "start", None)
            if start is not None:
                await start()

    async def close(self) -> None:
        """Stop them again, newest first (the webhook drains, bounded)."""
        for sink in reversed(self.all):
            close = getattr(sink, "close", None)
            if close is not None:
                await close()


def build_sinks(
    settings: Settings, redactor: Redactor | None = None, *, owns_stderr: bool = False
) -> Sinks:
    """The sinks of one gateway, from its settings: the one list.

    `redactor` is the one the mode redacts cassettes with (`proxy.modes.redactor_for`);
    without it, the credentials every HTTP stack uses and `--filter-header` are redacted.
    The access log shows no header, and the query with the spec's credentials redacted;
    with `owns_stderr` (the `portal-proxy` process) it writes its lines itself, in batches.
    """
    metrics = Metrics()
    recent = RecentViolations()
    redactor = redactor or Redactor(settings.filter_header)
    exchanges = KeptExchanges(redactor, settings.keep_exchanges)
    sinks: list[Sink] = [
        ViolationsHeader(),
        MetricsSink(metrics),
        recent,
        ViolationLog(settings.log_format),
        exchanges,
    ]
    if settings.alert_webhook:
        sinks.append(WebhookSink(settings.alert_webhook, settings.alert_window, metrics))
    access_log = None
    if settings.access_log == "on":
        writer = LineWriter(access.logger.name, settings.log_format) if owns_stderr else None
        access_log = AccessLog(settings.log_format, redactor, writer)
        sinks.append(access_log)
    return Sinks(sinks, metrics, recent, exchanges, access_log)
