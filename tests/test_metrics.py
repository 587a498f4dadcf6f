"""Tests for proxy/metrics.py: counts as Prometheus scrapes them, one registry per gateway."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from proxy.metrics import Metrics, location_label, operation_label
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
    assert value(metrics, name, operation="op", location="response", code="enum") == 2
    assert value(metrics, name, operation="op", location="request", code="401") == 1


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
