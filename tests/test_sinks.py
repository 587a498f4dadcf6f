"""Tests for proxy/sinks/ and proxy/report.py: the report, the log line, the ring of recent
reports, metrics and the webhook, as `build_sinks` wires them."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from proxy.report import ExchangeReport, JsonFormatter, configure_logging
from proxy.settings import Settings
from proxy.sinks import Sinks, build_sinks
from proxy.sinks.recent import RecentViolations
from proxy.sinks.webhook import WebhookSink
from proxy.violations import Violation, violation
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


def make_sinks(**settings: Any) -> Sinks:
    return build_sinks(Settings(**settings))


def emit(sinks: Sinks, report: ExchangeReport) -> web.Response:
    """Hand a report to the sinks as the pipeline does, with the response about to go out."""
    response = web.Response()
    sinks.emit(report, response, None)
    return response


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
    sinks = make_sinks()
    emit(sinks, make_report())
    assert violation_log.records == []
    assert sinks.recent.recent() == []
    body, _ = sinks.metrics.render()
    assert (
        b'portal_proxy_requests_total{operation="create-product-client-type",'
        b'source="upstream",status="201"} 1.0' in body
    )
    assert b"portal_proxy_violations_total{" not in body


def test_json_log_line(violation_log: pytest.LogCaptureFixture) -> None:
    sinks = make_sinks(log_format="json")
    emit(sinks, make_report([GRANT_TYPE, UNDOCUMENTED], path=PATH + "?token=s3cret"))
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
    emit(make_sinks(log_format="text"), make_report([GRANT_TYPE]))
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
    emit(make_sinks(), make_report(violations))
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
    recent = RecentViolations(size=3)
    for n in range(5):
        recent.emit(
            make_report([GRANT_TYPE], at=1000.0 + n, request_id=f"r{n}"), web.Response(), None
        )
    assert [item["request_id"] for item in recent.recent()] == ["r4", "r3", "r2"]


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
    sinks = make_sinks()
    for n in range(6):
        operation_id = OPERATION if n % 2 == 0 else None
        report = make_report([GRANT_TYPE], at=1000.0 + n, operation_id=operation_id)
        report.request_id = f"r{n}"
        emit(sinks, report)
    emit(sinks, make_report([], at=2000.0, request_id="clean"))
    found = sinks.recent.recent(since=since, operation=operation, limit=limit)
    assert [item["request_id"] for item in found] == expected


def test_recent_refuses_an_empty_ring() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RecentViolations(size=0)


def test_the_webhook_counts_in_the_gateways_metrics() -> None:
    sinks = make_sinks(alert_webhook="http://127.0.0.1:9/hook")
    webhooks = [sink for sink in sinks.all if isinstance(sink, WebhookSink)]
    assert len(webhooks) == 1
    assert webhooks[0].alerter.metrics is sinks.metrics


def test_no_webhook_sink_without_a_url() -> None:
    assert not any(isinstance(sink, WebhookSink) for sink in make_sinks().all)


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
    sinks = make_sinks(alert_webhook=f"http://127.0.0.1:{port}/hook")
    try:
        await sinks.start()
        emit(sinks, make_report([GRANT_TYPE]))
        emit(sinks, make_report([GRANT_TYPE]))  # same violation: no second alert
        await sinks.close()
    finally:
        await runner.cleanup()
    assert [item["violation"] for item in received] == [GRANT_TYPE]
    body, _ = sinks.metrics.render()
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
        'operation="create-product-client-type",severity="Error"} 3.0'
    ) in metrics
    assert "portal_proxy_upstream_latency_seconds_count" in metrics


def test_a_clean_exchange_reaches_only_the_sinks_that_count_it() -> None:
    sinks = make_sinks()
    response = emit(sinks, make_report([]))
    assert "sl-violations" not in response.headers
    assert sinks.recent.recent() == []
    assert sinks.exchanges.clean == 1  # counted, not kept
    body, _ = sinks.metrics.render()
    counted = (
        b'portal_proxy_requests_total{operation="create-product-client-type",'
        b'source="upstream",status="201"} 1.0'
    )
    assert counted in body
