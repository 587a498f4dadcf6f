"""Tests for proxy/webhook.py, against a real receiver on loopback that misbehaves on cue."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from proxy.metrics import Metrics
from proxy.report import ExchangeReport
from proxy.violations import Violation, violation
from proxy.webhook import WebhookAlerter, alert_payload, alert_text

OPERATION = "create-product-client-type"
PATH = "/portal-api/products/7/client_types"
GRANT_TYPE = violation(["response", "body", "GrantType"], "enum", "must be client_credentials")


def make_report(
    violations: list[Violation], *, operation_id: str | None = OPERATION, path: str = PATH
) -> ExchangeReport:
    return ExchangeReport(
        request_id="req-1",
        time=1_700_000_000.5,
        mode="proxy",
        method="POST",
        path=path,
        operation_id=operation_id,
        status=201,
        source="upstream",
        violations=violations,
    )


def field(name: str) -> Violation:
    return violation(["response", "body", name], "type", f"{name} must be a string")


def alerts(metrics: Metrics) -> dict[str, float]:
    """`portal_proxy_alerts_total` by outcome, parsed from the exposition text."""
    body, _ = metrics.render()
    return {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(body.decode())
        if family.name == "portal_proxy_alerts"
        for sample in family.samples
        if sample.name == "portal_proxy_alerts_total"
    }


async def wait_until(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


class Receiver:
    """A webhook receiver on 127.0.0.1 that can be slow, down, or answer `status`."""

    def __init__(self) -> None:
        self.port = 0
        self.slow = False
        self.status = 200
        self.received: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self.attempts = 0
        self.slow_hits = 0
        self.hit = asyncio.Event()
        self.release = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.attempts += 1
        if self.slow:
            self.slow_hits += 1
            self.hit.set()
            await self.release.wait()
            return web.Response(status=503)
        if self.status < 300:
            self.raw.append(body)
            self.received.append(orjson.loads(body))
        return web.Response(status=self.status)

    async def up(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        runner = web.AppRunner(app, shutdown_timeout=1.0)
        await runner.setup()
        # Port 0 the first time; the same port again when it comes back.
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self.port = runner.addresses[0][1]
        self._runner = runner

    async def down(self) -> None:
        self.release.set()  # let stuck handlers end, or the shutdown would wait for them
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    yield receiver
    await receiver.down()


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def timed_offers(alerter: WebhookAlerter, report: ExchangeReport, count: int = 1000) -> float:
    started = time.perf_counter()
    for _ in range(count):
        alerter.offer(report)
    return time.perf_counter() - started


async def test_slow_then_down_then_back(receiver: Receiver) -> None:
    receiver.slow = True
    await receiver.up()
    alerter = WebhookAlerter(
        receiver.url, queue_size=3, timeout=0.2, retries=100, backoff=0.02, max_backoff=0.1
    )
    await alerter.start()
    secret_report = make_report([GRANT_TYPE], path=PATH + "?api_key=s3cret")
    others = [make_report([field(f"f{n}")]) for n in range(5)]
    try:
        # Loose bounds: 1000 offers take a few ms; a blocking offer would take >= 0.2 s each.
        assert timed_offers(alerter, secret_report) < 0.5
        await asyncio.wait_for(receiver.hit.wait(), 5)

        # The sender is stuck on the slow receiver: offers stay instant, and of five new
        # violations three fit the queue and two are dropped.
        assert timed_offers(alerter, secret_report) < 0.5
        for report in others:
            alerter.offer(report)
        assert alerter.pending == 3
        await wait_until(lambda: receiver.slow_hits >= 2)  # retried after the timeout

        await receiver.down()
        await asyncio.sleep(0.3)  # connections refused meanwhile, and retried
        receiver.slow = False
        await receiver.up()
        await wait_until(lambda: alerts(alerter.metrics)["sent"] == 4)

        # Dropped alerts were not remembered as sent: the next occurrence gets through.
        alerter.offer(others[4])
        await wait_until(lambda: alerts(alerter.metrics)["sent"] == 5)
    finally:
        await alerter.close()

    assert alerts(alerter.metrics) == {"sent": 5, "failed": 0, "dropped": 2}
    locations = [tuple(item["violation"]["location"]) for item in receiver.received]
    assert sorted(set(locations)) == sorted(
        {("response", "body", name) for name in ("GrantType", "f0", "f1", "f2", "f4")}
    )
    assert locations.count(("response", "body", "GrantType")) == 1  # 2000 offers, one alert
    [grant] = [item for item in receiver.received if item["violation"] == GRANT_TYPE]
    assert grant == {
        "text": (
            "portal-proxy: Error in response body GrantType of create-product-client-type: "
            f"must be client_credentials (POST {PATH}, status 201)"
        ),
        "operation": OPERATION,
        "violation": GRANT_TYPE,
        "method": "POST",
        "path": PATH,
        "status": 201,
        "time": 1_700_000_000.5,
        "request_id": "req-1",
        "mode": "proxy",
        "source": "upstream",
    }
    assert not any(b"s3cret" in body for body in receiver.raw)


@pytest.mark.parametrize(
    ("status", "attempts", "outcome"),
    [
        (200, 1, "sent"),
        (204, 1, "sent"),
        (400, 1, "failed"),  # refused: retrying cannot help
        (404, 1, "failed"),
        (503, 3, "failed"),  # retried, then given up
        (429, 3, "failed"),
    ],
)
async def test_receiver_status(
    receiver: Receiver, status: int, attempts: int, outcome: str
) -> None:
    receiver.status = status
    await receiver.up()
    alerter = WebhookAlerter(receiver.url, timeout=2.0, retries=2, backoff=0.01)
    await alerter.start()
    try:
        alerter.offer(make_report([GRANT_TYPE]))
        await wait_until(lambda: alerts(alerter.metrics)[outcome] == 1)
    finally:
        await alerter.close()
    assert receiver.attempts == attempts


async def test_receiver_that_stays_down_counts_failed() -> None:
    alerter = WebhookAlerter(f"http://127.0.0.1:{free_port()}/hook", retries=2, backoff=0.01)
    await alerter.start()
    try:
        assert timed_offers(alerter, make_report([GRANT_TYPE])) < 0.5
        await wait_until(lambda: alerts(alerter.metrics)["failed"] == 1)
    finally:
        await alerter.close()
    assert alerts(alerter.metrics) == {"sent": 0, "failed": 1, "dropped": 0}


async def test_close_is_bounded_and_counts_what_is_left(receiver: Receiver) -> None:
    receiver.slow = True
    await receiver.up()
    alerter = WebhookAlerter(receiver.url, timeout=30.0, drain_timeout=0.2)
    await alerter.start()
    alerter.offer(make_report([field("a"), field("b")]))
    await asyncio.wait_for(receiver.hit.wait(), 5)
    started = time.monotonic()
    await alerter.close()
    assert time.monotonic() - started < 2.0
    # One in flight, one queued: neither was sent.
    assert alerts(alerter.metrics) == {"sent": 0, "failed": 0, "dropped": 2}
    alerter.offer(make_report([field("c")]))  # after close: dropped, not raised
    assert alerts(alerter.metrics)["dropped"] == 3


def test_window_deduplicates_by_operation_location_and_code() -> None:
    now = [0.0]
    alerter = WebhookAlerter("http://127.0.0.1:9/hook", window=300.0, clock=lambda: now[0])
    steps: list[tuple[float, ExchangeReport, int]] = [
        (0.0, make_report([GRANT_TYPE]), 1),
        (1.0, make_report([GRANT_TYPE, GRANT_TYPE]), 1),  # same: no new alert
        (2.0, make_report([field("x")]), 2),  # other location
        (3.0, make_report([violation(["response", "body", "GrantType"], "type", "m")]), 3),
        (4.0, make_report([GRANT_TYPE], operation_id=None), 4),  # other operation
        (299.0, make_report([GRANT_TYPE]), 4),  # still within the window
        (300.0, make_report([GRANT_TYPE]), 5),  # window over: alerted again
        (301.0, make_report([GRANT_TYPE]), 5),
    ]
    for at, report, pending in steps:
        now[0] = at
        alerter.offer(report)
        assert alerter.pending == pending, at


def test_memory_of_alerts_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("proxy.webhook.MAX_REMEMBERED", 3)
    alerter = WebhookAlerter("http://127.0.0.1:9/hook", queue_size=10)
    for name in "abcd":
        alerter.offer(make_report([field(name)]))
    alerter.offer(make_report([field("a")]))  # forgotten early: alerted again
    alerter.offer(make_report([field("d")]))
    assert alerter.pending == 5


def test_offer_never_raises() -> None:
    alerter = WebhookAlerter("http://127.0.0.1:9/hook", queue_size=1)
    broken = violation([["not", "hashable"]], "type", "m")  # type: ignore[list-item]
    alerter.offer(make_report([broken]))
    alerter.offer(make_report([field("a")]))
    alerter.offer(make_report([field("b")]))  # queue full
    assert alerts(alerter.metrics)["dropped"] == 1


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        (
            make_report([GRANT_TYPE]),
            "portal-proxy: Error in response body GrantType of create-product-client-type: "
            f"must be client_credentials (POST {PATH}, status 201)",
        ),
        (
            make_report(
                [violation(["request", "body", 0], "type", "<!channel> & co", "Warning")],
                operation_id=None,
                path=PATH + "?token=s3cret",
            ),
            "portal-proxy: Warning in request body 0 of unknown: &lt;!channel&gt; &amp; co"
            f" (POST {PATH}, status 201)",
        ),
    ],
)
def test_alert_text(report: ExchangeReport, expected: str) -> None:
    assert alert_text(report, report.violations[0]) == expected


def test_alert_text_cuts_long_messages() -> None:
    report = make_report([violation(["response"], "type", "x" * 5000)])
    text = alert_text(report, report.violations[0])
    assert len(text) < 500
    assert "x…" in text
    assert alert_payload(report, report.violations[0])["violation"]["message"] == "x" * 5000


@pytest.mark.parametrize(
    "kwargs",
    [
        {"url": "ftp://hooks.example/T000/SECRET"},
        {"url": "hooks.example/T000/SECRET"},
        {"url": "http:///T000/SECRET"},
        {"url": "http://hooks.example/SECRET", "window": -1.0},
        {"url": "http://hooks.example/SECRET", "queue_size": 0},
        {"url": "http://hooks.example/SECRET", "timeout": 0.0},
        {"url": "http://hooks.example/SECRET", "retries": -1},
    ],
)
def test_bad_settings_refused_without_quoting_the_url(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="webhook") as caught:
        WebhookAlerter(**kwargs)
    assert "SECRET" not in str(caught.value)


async def test_start_is_idempotent_and_close_final() -> None:
    alerter = WebhookAlerter("http://127.0.0.1:9/hook")
    assert "/hook" not in repr(alerter)
    await alerter.start()
    await alerter.start()
    await alerter.close()
    await alerter.close()
    with pytest.raises(RuntimeError, match="closed"):
        await alerter.start()
