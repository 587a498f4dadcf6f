"""Tests for proxy/metrics.py: counts as Prometheus scrapes them, one registry per gateway."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.parser import text_string_to_metric_families

from proxy.metrics import LATENCY_BUCKETS, Metrics, location_label, operation_label
from proxy.violations import Violation, violation


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Parse the exposition text into {(sample name, labels): value}."""
    body, _ = metrics.render()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return samples(metrics).get((name, frozenset(labels.items())))


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ("", "text/plain; version=0.0.4; charset=utf-8"),
        ("text/plain", "text/plain; version=0.0.4; charset=utf-8"),
        (
            "text/plain;version=1.0.0;escaping=underscores",
            "text/plain; version=1.0.0; charset=utf-8; escaping=underscores",
        ),
    ],
)
def test_render_is_prometheus_text(accept: str, content_type: str) -> None:
    body, served_as = Metrics().render(accept)
    assert served_as == content_type
    assert b"# TYPE portal_proxy_requests_total counter" in body
    assert b"# TYPE portal_proxy_upstream_latency_seconds histogram" in body


def test_render_speaks_openmetrics_when_asked() -> None:
    body, content_type = Metrics().render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    assert body.endswith(b"# EOF\n")


def test_requests_counted_by_operation_status_source() -> None:
    metrics = Metrics()
    metrics.observe_exchange("op-a", 201, "upstream")
    metrics.observe_exchange("op-a", 201, "upstream")
    metrics.observe_exchange(None, 404, "gateway")
    name = "portal_proxy_requests_total"
    assert value(metrics, name, operation="op-a", status="201", source="upstream") == 2
    assert value(metrics, name, operation="unknown", status="404", source="gateway") == 1


def test_latency_observed_only_with_an_upstream() -> None:
    metrics = Metrics()
    metrics.observe_exchange("op", 200, "mock")
    metrics.observe_exchange("op", 200, "upstream", upstream_latency=0.02)
    metrics.observe_exchange("op", 200, "upstream", upstream_latency=3.0)
    name = "portal_proxy_upstream_latency_seconds"
    assert value(metrics, name + "_count", operation="op") == 2
    assert value(metrics, name + "_sum", operation="op") == pytest.approx(3.02)
    assert value(metrics, name + "_bucket", operation="op", le="0.025") == 1
    assert value(metrics, name + "_bucket", operation="op", le="5.0") == 2


def test_violations_counted_by_location_head_and_code() -> None:
    metrics = Metrics()
    metrics.count_violations(
        "op",
        [
            violation(["response", "body", "data", 3, "GrantType"], "enum", "bad grant type"),
            violation(["response", "body", "data", 4, "GrantType"], "enum", "bad grant type"),
            violation(["request", "header", "Authorization"], 401, "missing"),
        ],
    )
    name = "portal_proxy_violations_total"
    labels = {"operation": "op", "severity": "Error"}
    assert value(metrics, name, location="response", code="enum", **labels) == 2
    assert value(metrics, name, location="request", code="401", **labels) == 1


def test_violations_counted_by_severity() -> None:
    # An alert on Errors alone needs the severity as a label: same code, two series.
    metrics = Metrics()
    metrics.count_violations(
        "op",
        [
            violation(["response"], 404, "undocumented status", "Warning"),
            violation(["response"], 404, "undocumented status", "Warning"),
            violation(["response"], 404, "undocumented 2xx status"),
        ],
    )
    name = "portal_proxy_violations_total"
    where = {"operation": "op", "location": "response", "code": "404"}
    assert value(metrics, name, severity="Warning", **where) == 2
    assert value(metrics, name, severity="Error", **where) == 1


def test_alert_outcomes_exported_from_the_start() -> None:
    metrics = Metrics()
    for outcome in ("sent", "failed", "dropped"):
        assert value(metrics, "portal_proxy_alerts_total", outcome=outcome) == 0
    metrics.count_alert("dropped")
    assert value(metrics, "portal_proxy_alerts_total", outcome="dropped") == 1


def test_each_instance_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.observe_exchange("op", 200, "mock")
    assert value(first, "portal_proxy_requests_total", operation="op", status="200", source="mock")
    assert (
        value(second, "portal_proxy_requests_total", operation="op", status="200", source="mock")
        is None
    )


@pytest.mark.parametrize(
    ("operation_id", "expected"),
    [
        ("create-product-client-type", "create-product-client-type"),
        (None, "unknown"),
        ("", "unknown"),
    ],
)
def test_operation_label(operation_id: str | None, expected: str) -> None:
    assert operation_label(operation_id) == expected


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (["request", "body"], "request"),
        (["response"], "response"),
        (["elsewhere", "x"], "other"),
        ([3, "x"], "other"),
        ([], "other"),
    ],
)
def test_location_label(location: list[str | int], expected: str) -> None:
    item: Violation = violation(location, "type", "m")
    assert location_label(item) == expected


class ClientMetrics:
    """The same metrics made of prometheus_client's own `Counter` and `Histogram`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "portal_proxy_requests",
            "Exchanges handled, by operation, response status and source of the response.",
            ["operation", "status", "source"],
            registry=self.registry,
        )
        self.violations = Counter(
            "portal_proxy_violations",
            "Spec violations found, by operation, location (request/response), code and severity.",
            ["operation", "location", "code", "severity"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "portal_proxy_upstream_latency_seconds",
            "Time the upstream took to answer, by operation.",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.alerts = Counter(
            "portal_proxy_alerts",
            "Webhook alerts, by outcome: sent, failed (retries exhausted) or dropped.",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in ("sent", "failed", "dropped"):
            self.alerts.labels(outcome)

    def render(self, accept: str) -> bytes:
        encoder, _ = choose_encoder(accept)
        return encoder(self.registry)


def drive(metrics: Metrics) -> ClientMetrics:
    """The same exchanges counted by `metrics` and by prometheus_client's classes."""
    client = ClientMetrics()
    exchanges: list[tuple[str | None, int, str, float | None]] = [
        ("op-a", 201, "upstream", 0.02),
        ("op-a", 201, "cassette", None),
        (None, 404, "gateway", None),
        ("", 404, "gateway", None),
        ("op", 200, "upstream", 0.005),
        ("op", 200, "upstream", 3.0),
        ("op", 200, "upstream", 100.0),
        ("", 502, "upstream", 0.5),
    ]
    for operation, status, source, latency in exchanges:
        metrics.observe_exchange(operation, status, source, latency)
        client.requests.labels(operation_label(operation), str(status), source).inc()
        if latency is not None:
            client.latency.labels(operation_label(operation)).observe(latency)
    found = [
        violation(["response", "body", 3], "enum", "x"),
        violation(["request", "header"], 401, "y"),
        violation([], "type", "z"),
        violation(["request", "body"], 405, "w", "Warning"),
    ]
    metrics.count_violations("op", found)
    for item in found:
        labels = ("op", location_label(item), str(item["code"]), item["severity"])
        client.violations.labels(*labels).inc()
    for outcome in ("dropped", "sent", "dropped"):
        metrics.count_alert(outcome)
        client.alerts.labels(outcome).inc()
    return client


_CREATED = re.compile(rb"(_created(?:\{[^}]*\})? )\S+")


@pytest.mark.parametrize(
    "accept",
    [
        "",
        "text/plain;version=1.0.0;escaping=underscores",
        "application/openmetrics-text; version=1.0.0",
    ],
)
def test_exposition_is_what_prometheus_client_classes_export(accept: str) -> None:
    # Counted in plain Python, but rendered byte for byte as `Counter` and `Histogram`
    # would render the same counts (but for the creation times).
    metrics = Metrics()
    client = drive(metrics)
    ours, theirs = metrics.render(accept)[0], client.render(accept)
    assert b"portal_proxy_upstream_latency_seconds_created" in ours
    assert _CREATED.sub(rb"\1T", ours) == _CREATED.sub(rb"\1T", theirs)


def test_created_series_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_DISABLE_CREATED_SERIES", "True")
    metrics = Metrics()
    drive(metrics)
    body, _ = metrics.render()
    assert b"_created" not in body
    assert b"portal_proxy_upstream_latency_seconds_count" in body


def test_prometheus_client_is_imported_only_to_render() -> None:
    # Start-up does not pay for importing it; counting needs none of it.
    code = (
        "import sys\n"
        "from proxy.metrics import Metrics\n"
        "m = Metrics()\n"
        "m.observe_exchange('op', 201, 'upstream', 0.1)\n"
        "m.count_alert('sent')\n"
        "assert 'prometheus_client' not in sys.modules, 'imported too early'\n"
        "assert b'portal_proxy_alerts_total' in m.render()[0]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
