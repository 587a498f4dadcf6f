"""Webhook alerts for violations: deduplicated, queued, sent in the background.

`offer()` runs on the request path, so it only looks up a dict and puts on a bounded queue:
a dead or slow receiver costs the traffic nothing. One background task POSTs the alerts,
retrying with capped exponential backoff; what cannot be queued or sent is counted in the
metrics (`portal_proxy_alerts_total{outcome="dropped"|"failed"}`), never raised.

The payload has a Slack-compatible `text`, so a Slack (or Mattermost, Teams-via-connector)
incoming-webhook URL works as is. It never carries request header values or the request body.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import aiohttp
import orjson

from proxy.metrics import AlertOutcome, Metrics, operation_label
from proxy.report import safe_path
from proxy.violations import location_text

if TYPE_CHECKING:
    from proxy.report import ExchangeReport
    from proxy.violations import Violation

logger = logging.getLogger("portal_proxy.webhook")

#: Longest violation message quoted in an alert's text; the full one is in `violation`.
TEXT_MESSAGE_LIMIT: Final = 300

#: Most distinct violations remembered at once; beyond that the oldest is forgotten early
#: (locations can hold array indices, so the set of keys is not bounded by the spec).
MAX_REMEMBERED: Final = 10_000

# Statuses worth another attempt: the receiver is overloaded or restarting, not refusing.
_RETRY_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})

AlertKey = tuple[str | None, tuple[str | int, ...], str]


def alert_key(operation_id: str | None, item: Violation) -> AlertKey:
    """What makes two violations "the same alert": operation, full location and code."""
    return (operation_id, tuple(item["location"]), str(item["code"]))


def slack_escape(text: str) -> str:
    """Escape `&`, `<` and `>` as Slack requires, so quoted client data cannot ping @channel."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def alert_text(report: ExchangeReport, item: Violation) -> str:
    """The one-line summary of one violation, e.g.

    `portal-proxy: Error in response body GrantType of create-product-client-type: ...`
    """
    message = item["message"]
    if len(message) > TEXT_MESSAGE_LIMIT:
        message = message[: TEXT_MESSAGE_LIMIT - 1] + "…"
    where = location_text(item["location"], " ")
    text = (
        f"{item['severity']} in {where} of {operation_label(report.operation_id)}: {message}"
        f" ({report.method} {safe_path(report.path)}, status {report.status})"
    )
    return "portal-proxy: " + slack_escape(text)


def alert_payload(report: ExchangeReport, item: Violation) -> dict[str, Any]:
    """The JSON body POSTed for one violation of one exchange."""
    return {
        "text": alert_text(report, item),
        "operation": report.operation_id,
        "violation": dict(item),
        "method": report.method,
        "path": safe_path(report.path),
        "status": report.status,
        "time": report.time,
        "request_id": report.request_id,
        "mode": report.mode,
        "source": report.source,
    }


class WebhookAlerter:
    """Posts one alert per distinct violation per `window` seconds to a webhook URL.

    A violation is distinct by (operationId, location, code). `retries` is the number of
    attempts after the first; the delay before retry n is `backoff * 2**n`, capped at
    `max_backoff`. `close()` drains for at most `drain_timeout` seconds. Use from the event
    loop's thread only.
    """

    def __init__(
        self,
        url: str,
        window: float = 300.0,
        queue_size: int = 1000,
        timeout: float = 5.0,
        retries: int = 5,
        backoff: float = 0.5,
        metrics: Metrics | None = None,
        *,
        max_backoff: float = 30.0,
        drain_timeout: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Check the settings; nothing is sent before `start()`."""
        parts = urlsplit(url)
        # The URL itself is never quoted in messages: a Slack webhook URL is a credential.
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"webhook URL must be http(s)://host/..., got scheme {parts.scheme!r}")
        for name, value in (
            ("window", window),
            ("backoff", backoff),
            ("max_backoff", max_backoff),
            ("drain_timeout", drain_timeout),
            ("retries", retries),
        ):
            if value < 0:
                raise ValueError(f"webhook {name} must not be negative, got {value}")
        if queue_size < 1:
            raise ValueError(f"webhook queue_size must be at least 1, got {queue_size}")
        if timeout <= 0:
            raise ValueError(f"webhook timeout must be positive, got {timeout}")
        self.url = url
        self.window = window
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.drain_timeout = drain_timeout
        self.metrics: Metrics = metrics if metrics is not None else Metrics()
        self._host = parts.hostname
        self._clock = clock
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=queue_size)
        # Key -> when it was last alerted. Re-inserted on each alert, so the dict is ordered
        # by that time and expired keys are popped from its front in O(1).
        self._alerted: dict[AlertKey, float] = {}
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"<WebhookAlerter to {self._host} pending={self.pending}>"

    @property
    def pending(self) -> int:
        """Alerts queued and not yet taken by the sender."""
        return self._queue.qsize()

    def offer(self, report: ExchangeReport) -> None:
        """Queue an alert for each violation not alerted within the window.

        Synchronous, non-blocking and never raising: it runs on the request path. An alert
        that finds the queue full (or the alerter closed) is dropped and counted.
        """
        try:
            now = self._clock()
            self._forget_expired(now)
            for item in report.violations:
                key = alert_key(report.operation_id, item)
                if key in self._alerted:
                    continue
                if self._closed:
                    self.metrics.count_alert("dropped")
                    continue
                try:
                    self._queue.put_nowait(alert_payload(report, item))
                except asyncio.QueueFull:
                    # Not remembered as alerted: once the queue has room, the next
                    # occurrence gets its alert.
                    self.metrics.count_alert("dropped")
                    continue
                self._alerted[key] = now
                if len(self._alerted) > MAX_REMEMBERED:
                    del self._alerted[next(iter(self._alerted))]
        except Exception:
            logger.exception("webhook alert could not be queued")

    async def start(self) -> None:
        """Open the client session and start the sender task (a second call does nothing)."""
        if self._closed:
            raise RuntimeError("a closed WebhookAlerter cannot be started again")
        if self._task is not None:
            return
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            json_serialize=lambda value: orjson.dumps(value).decode(),
        )
        self._task = asyncio.create_task(self._run(), name="portal-proxy webhook")

    async def close(self) -> None:
        """Stop: let the queue drain for at most `drain_timeout` seconds, then cancel.

        Alerts still queued or in flight then are counted as dropped.
        """
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), self.drain_timeout)
            task.cancel()
            # `wait` rather than `await task`: it never raises the task's CancelledError,
            # so a cancellation of close() itself is not swallowed.
            await asyncio.wait([task])
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()
            self.metrics.count_alert("dropped")
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _forget_expired(self, now: float) -> None:
        alerted = self._alerted
        while alerted:
            key = next(iter(alerted))
            if now - alerted[key] < self.window:
                break
            del alerted[key]

    async def _run(self) -> None:
        while True:
            payload = await self._queue.get()
            outcome: AlertOutcome = "dropped"  # what a cancellation mid-send leaves
            try:
                outcome = "sent" if await self._deliver(payload) else "failed"
            except Exception:
                # The sender must outlive any one bad alert.
                logger.exception("webhook alert could not be sent")
                outcome = "failed"
            finally:
                self.metrics.count_alert(outcome)
                self._queue.task_done()

    async def _deliver(self, payload: dict[str, Any]) -> bool:
        assert self._session is not None
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(min(self.backoff * 2 ** (attempt - 1), self.max_backoff))
            try:
                async with self._session.post(
                    self.url, json=payload, allow_redirects=False
                ) as response:
                    if response.status < 300:
                        return True
                    problem = f"status {response.status}"
                    if response.status not in _RETRY_STATUSES:
                        break  # the receiver refuses this alert: retrying will not help
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                problem = type(exc).__name__
        logger.warning(
            "webhook alert to %s failed after %d attempt(s): %s",
            self._host,
            attempt + 1,
            problem,
        )
        return False
