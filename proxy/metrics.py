"""Prometheus metrics for one gateway, in a registry of its own.

Each `Metrics` owns a private `CollectorRegistry`: several gateways run in one test process,
and the global registry would mix their counts (and refuse the second registration).
"""

from __future__ import annotations

from typing import Final, Literal

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder

from proxy.violations import Violation

#: The `operation` label of an exchange that matched no operation of the spec.
UNKNOWN_OPERATION: Final = "unknown"

AlertOutcome = Literal["sent", "failed", "dropped"]
ALERT_OUTCOMES: Final[tuple[AlertOutcome, ...]] = ("sent", "failed", "dropped")

#: Upstream latency buckets, in seconds: the defaults stop at 10 s, short of a slow portal.
LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

_LOCATIONS: Final = frozenset({"request", "response"})


def operation_label(operation_id: str | None) -> str:
    """The `operation` label value: the operationId, or `unknown` when there is none."""
    return operation_id or UNKNOWN_OPERATION


def location_label(violation: Violation) -> str:
    """The `location` label value: `request` or `response` (`other` for anything else).

    Only the first element is used: the rest of a location can hold array indices, which
    would make the label's cardinality unbounded.
    """
    location = violation["location"]
    head = location[0] if location else None
    return head if isinstance(head, str) and head in _LOCATIONS else "other"


class Metrics:
    """Counters and histograms of one gateway, rendered in the Prometheus text format."""

    def __init__(self) -> None:
        """Create the metrics in a fresh registry (never the global one)."""
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "portal_proxy_requests",
            "Exchanges handled, by operation, response status and source of the response.",
            ["operation", "status", "source"],
            registry=self.registry,
        )
        self.violations = Counter(
            "portal_proxy_violations",
            "Spec violations found, by operation, location (request/response) and code.",
            ["operation", "location", "code"],
            registry=self.registry,
        )
        self.upstream_latency = Histogram(
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
        # Exported at 0 from the start, so `rate()` and absence alerts work before any alert.
        for outcome in ALERT_OUTCOMES:
            self.alerts.labels(outcome)
        # `Counter.labels()` validates and locks on every call, which dominates the cost of
        # the hot path; the label sets are few, so their children are cached here.
        self._request_children: dict[tuple[str | None, int, str], Counter] = {}
        self._latency_children: dict[str | None, Histogram] = {}

    def observe_exchange(
        self,
        operation_id: str | None,
        status: int,
        source: str,
        upstream_latency: float | None = None,
    ) -> None:
        """Count one exchange, and observe the upstream's latency when there was one."""
        key = (operation_id, status, source)
        child = self._request_children.get(key)
        if child is None:
            child = self.requests.labels(operation_label(operation_id), str(status), source)
            self._request_children[key] = child
        child.inc()
        if upstream_latency is not None:
            histogram = self._latency_children.get(operation_id)
            if histogram is None:
                histogram = self.upstream_latency.labels(operation_label(operation_id))
                self._latency_children[operation_id] = histogram
            histogram.observe(upstream_latency)

    def count_violations(self, operation_id: str | None, violations: list[Violation]) -> None:
        """Count each violation of one exchange under its operation, location and code."""
        operation = operation_label(operation_id)
        for item in violations:
            self.violations.labels(operation, location_label(item), str(item["code"])).inc()

    def count_alert(self, outcome: AlertOutcome) -> None:
        """Count one webhook alert as sent, failed or dropped."""
        self.alerts.labels(outcome).inc()

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition body and its Content-Type, for `GET /__proxy/metrics`.

        `accept` is the scraper's `Accept` header. Without one, this is the classic text
        format labelled `version=0.0.4`, which every Prometheus parses: the
        `CONTENT_TYPE_LATEST` label (`version=1.0.0`) is only what the scraper asked for, as
        prometheus-client itself serves it.
        """
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type
