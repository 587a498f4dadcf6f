"""Tests for proxy/report.py: the log line, the ring of recent reports, the sinks together."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from proxy.metrics import Metrics
from proxy.report import ExchangeReport, JsonFormatter, Reporter, configure_logging
from proxy.violations import Violation, violation
from proxy.webhook import WebhookAlerter
from tests.conftest import TOKEN_HEADERS, GatewayFactory, StandinServer

OPERATION = "create-product-client-type"
PATH = "/portal-api/products/7/client_types"

GRANT_TYPE: Violation = violation(
    ["response", "body", "GrantType"], "enum", "GrantType: 'x' is not one of ['client_credentials']"
)
UNDOCUMENTED: Violation = violation(["response"], 418, "status 418 is not documented", "Warning")


def make_report(
    violations: list[Violation] | None = None,
    *,
    at: float = 1_700_000_000.0,
    operation_id: str | None = OPERATION,
    request_id: str = "req-1",
    path: str = PATH,
) -> ExchangeReport:
    return ExchangeReport(
        request_id=request_id,
        time=at,
        mode="proxy",
        method="POST",
        path=path,
        operation_id=operation_id,
        status=201,
        source="upstream",
        violations=[] if violations is None else violations,
        upstream_latency=0.012,
    )


@pytest.fixture
def violation_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """caplog, capturing `portal_proxy.violations` from INFO up."""
    caplog.set_level(logging.INFO, logger="portal_proxy.violations")
    return caplog


def test_to_json_has_every_field_and_no_query() -> None:
    report = make_report([GRANT_TYPE], path=PATH + "?token=s3cret")
    assert report.to_json() == {
        "request_id": "req-1",
        "time": 1_700_000_000.0,
        "mode": "proxy",
        "method": "POST",
        "path": PATH,
        "operation_id": OPERATION,
        "status": 201,
        "source": "upstream",
        "upstream_latency": 0.012,
        "violations": [GRANT_TYPE],
    }


def test_clean_exchange_only_counts(violation_log: pytest.LogCaptureFixture) -> None:
    reporter = Reporter()
    reporter.record(make_report())
    assert violation_log.records == []
    assert reporter.recent() == []
    body, _ = reporter.metrics.render()
    assert (
        b'portal_proxy_requests_total{operation="create-product-client-type",'
        b'source="upstream",status="201"} 1.0' in body
    )
    assert b"portal_proxy_violations_total{" not in body


def test_json_log_line(violation_log: pytest.LogCaptureFixture) -> None:
    reporter = Reporter(log_format="json")
    reporter.record(make_report([GRANT_TYPE, UNDOCUMENTED], path=PATH + "?token=s3cret"))
    [record] = violation_log.records
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert "s3cret" not in line
    data = orjson.loads(line)
    assert data["level"] == "WARNING"
    assert data["logger"] == "portal_proxy.violations"
    assert data["time"].endswith("Z")
    assert {key: data[key] for key in ("request_id", "method", "path", "operation_id")} == {
        "request_id": "req-1",
        "method": "POST",
        "path": PATH,
        "operation_id": OPERATION,
    }
    assert (data["status"], data["source"], data["mode"]) == (201, "upstream", "proxy")
    assert data["violations"] == [GRANT_TYPE, UNDOCUMENTED]
    # The violations are fields of the line, not repeated in its message.
    assert "GrantType" not in data["message"]


def test_text_log_line(violation_log: pytest.LogCaptureFixture) -> None:
    Reporter(log_format="text").record(make_report([GRANT_TYPE]))
    [record] = violation_log.records
    assert record.getMessage() == (
        f"1 violation in POST {PATH} -> 201 [{OPERATION}] source=upstream request_id=req-1: "
        "Error response.body.GrantType (enum): GrantType: 'x' is not one of "
        "['client_credentials']"
    )


@pytest.mark.parametrize(
    ("violations", "level"),
    [([GRANT_TYPE], logging.WARNING), ([UNDOCUMENTED], logging.INFO)],
)
def test_log_level_follows_severity(
    violation_log: pytest.LogCaptureFixture, violations: list[Violation], level: int
) -> None:
    Reporter().record(make_report(violations))
    assert [record.levelno for record in violation_log.records] == [level]


def test_json_formatter_keeps_any_extra_serializable() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    extras: dict[str, Any] = {"obj": object(), "nums": {1: 2}, "huge": 2**70, "message": "no"}
    record.__dict__.update(extras)
    data = orjson.loads(JsonFormatter().format(record))
    assert data["message"] == "hello you"
    assert data["obj"].startswith("<object object")
    assert data["huge"] == repr(2**70)


def test_json_formatter_includes_exceptions() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), None)
        record.exc_info = sys.exc_info()
    data = orjson.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in data["exc_info"]


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, with its handlers and level restored afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def test_configure_logging_is_idempotent(
    root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    before = len(root_logger.handlers)
    configure_logging("text")
    handler = configure_logging("json", level=logging.DEBUG)
    assert len(root_logger.handlers) == before + 1
    assert isinstance(handler.formatter, JsonFormatter)
    assert root_logger.level == logging.DEBUG
    logging.getLogger("portal_proxy.test").info("ready", extra={"port": 8080})
    [line] = capsys.readouterr().err.splitlines()
    assert orjson.loads(line)["port"] == 8080


def test_configure_logging_refuses_unknown_format() -> None:
    with pytest.raises(ValueError, match="'xml'"):
        configure_logging("xml")


def test_recent_newest_first_and_bounded() -> None:
    reporter = Reporter(recent_size=3)
    for n in range(5):
        reporter.record(make_report([GRANT_TYPE], at=1000.0 + n, request_id=f"r{n}"))
    assert [item["request_id"] for item in reporter.recent()] == ["r4", "r3", "r2"]


@pytest.mark.parametrize(
    ("since", "operation", "limit", "expected"),
    [
        (None, None, 100, ["r5", "r4", "r3", "r2", "r1", "r0"]),
        (None, None, 2, ["r5", "r4"]),
        (None, None, 0, []),
        (1003.0, None, 100, ["r5", "r4"]),  # strictly after
        (None, OPERATION, 100, ["r4", "r2", "r0"]),
        (None, "unknown", 100, ["r5", "r3", "r1"]),
        (1001.5, "unknown", 1, ["r5"]),
        (None, "other-operation", 100, []),
    ],
)
def test_recent_filters(
    since: float | None, operation: str | None, limit: int, expected: list[str]
) -> None:
    reporter = Reporter()
    for n in range(6):
        operation_id = OPERATION if n % 2 == 0 else None
        report = make_report([GRANT_TYPE], at=1000.0 + n, operation_id=operation_id)
        report.request_id = f"r{n}"
        reporter.record(report)
    reporter.record(make_report([], at=2000.0, request_id="clean"))
    found = reporter.recent(since=since, operation=operation, limit=limit)
    assert [item["request_id"] for item in found] == expected


@pytest.mark.parametrize(
    "kwargs",
    [{"log_format": "yaml"}, {"recent_size": 0}],
)
def test_reporter_refuses_bad_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must"):
        Reporter(**kwargs)


def test_reporter_shares_the_webhooks_metrics() -> None:
    webhook = WebhookAlerter("http://127.0.0.1:9/hook")
    assert Reporter(webhook=webhook).metrics is webhook.metrics
    with pytest.raises(ValueError, match="metrics"):
        Reporter(webhook=webhook, metrics=Metrics())


def test_clean_path_is_cheap() -> None:
    # Loose on purpose (about 1-4 us per call is typical): this catches an accidental log
    # call or copy on the hot path, not a slow machine.
    reporter = Reporter()
    report = make_report()
    started = time.perf_counter()
    for _ in range(10_000):
        reporter.record(report)
    assert time.perf_counter() - started < 1.0


async def test_violations_reach_the_webhook() -> None:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json(loads=orjson.loads))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    reporter = Reporter(webhook=WebhookAlerter(f"http://127.0.0.1:{port}/hook", timeout=2.0))
    try:
        await reporter.start()
        reporter.record(make_report([GRANT_TYPE]))
        reporter.record(make_report([GRANT_TYPE]))  # same violation: no second alert
        await reporter.close()
    finally:
        await runner.cleanup()
    assert [item["violation"] for item in received] == [GRANT_TYPE]
    body, _ = reporter.metrics.render()
    assert b'portal_proxy_alerts_total{outcome="sent"} 1.0' in body


async def test_sinks_see_every_violating_exchange(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
) -> None:
    standin.standin.invalid = True
    gw = await gateway_factory("proxy", upstream=standin.url)
    for _ in range(3):
        async with session.post(gw.route(1), json={"ID": 1}, headers=TOKEN_HEADERS) as response:
            assert response.status == 201
    async with session.get(gw.url + "/__proxy/violations") as response:
        recent = (await response.json())["violations"]
    assert len(recent) == 3
    assert recent[0]["operation_id"] == "create-product-client-type"
    async with session.get(gw.url + "/__proxy/violations?operation=other-operation") as response:
        assert (await response.json())["violations"] == []
    async with session.get(gw.url + "/__proxy/metrics") as response:
        metrics = await response.text()
    assert (
        'portal_proxy_violations_total{code="enum",location="response",'
        'operation="create-product-client-type"} 3.0'
    ) in metrics
    assert "portal_proxy_upstream_latency_seconds_count" in metrics
