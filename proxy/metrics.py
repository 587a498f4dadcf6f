"""Prometheus metrics for one gateway: counted in plain Python, exported in the text format.

Counting is a dict lookup and an addition per exchange. prometheus_client is imported only
when `/__proxy/metrics` is first rendered (it costs start-up time every mode would pay);
the families it renders are what `Counter` and `Histogram` would export, `_created` series
included. Each `Metrics` has its own registry: several gateways run in one test process.
"""

from __future__ import annotations

import bisect
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final, Literal, TypeVar

from proxy.violations import Violation

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

#: The `operation` label of an exchange that matched no operation of the spec.
UNKNOWN_OPERATION: Final = "unknown"

AlertOutcome = Literal["sent", "failed", "dropped"]
ALERT_OUTCOMES: Final[tuple[AlertOutcome, ...]] = ("sent", "failed", "dropped")

#: Upstream latency buckets, in seconds: the defaults stop at 10 s, short of a slow portal.
LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

_LOCATIONS: Final = frozenset({"request", "response"})

# Histogram bounds as prometheus_client's `Histogram` keeps them: +Inf last.
_BOUNDS: Final = (*LATENCY_BUCKETS, float("inf"))

Labels = tuple[str, ...]

_REQUESTS: Final[tuple[str, str, Labels]] = (
    "portal_proxy_requests",
    "Exchanges handled, by operation, response status and source of the response.",
    ("operation", "status", "source"),
)
_VIOLATIONS: Final[tuple[str, str, Labels]] = (
    "portal_proxy_violations",
    "Spec violations found, by operation, location (request/response), code and severity.",
    ("operation", "location", "code", "severity"),
)
_LATENCY: Final[tuple[str, str, Labels]] = (
    "portal_proxy_upstream_latency_seconds",
    "Time the upstream took to answer, by operation.",
    ("operation",),
)
_ALERTS: Final[tuple[str, str, Labels]] = (
    "portal_proxy_alerts",
    "Webhook alerts, by outcome: sent, failed (retries exhausted) or dropped.",
    ("outcome",),
)


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


class _Count:
    """One labelled series of a counter."""

    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()


class _Observations:
    """One labelled series of a histogram: per-bucket (not cumulative) counts and the sum."""

    __slots__ = ("buckets", "created", "sum")

    def __init__(self) -> None:
        self.buckets = [0.0] * len(_BOUNDS)
        self.sum = 0.0
        self.created = time.time()

    def observe(self, amount: float) -> None:
        self.sum += amount
        index = bisect.bisect_left(_BOUNDS, amount)  # the first bound >= amount
        if index < len(_BOUNDS) and amount <= _BOUNDS[index]:  # NaN is in no bucket
            self.buckets[index] += 1


class Metrics:
    """Counters and a histogram of one gateway, rendered in the Prometheus text format."""

    def __init__(self) -> None:
        """Start every count at zero (the alert outcomes are exported from the start)."""
        self._requests: dict[Labels, _Count] = {}
        self._violations: dict[Labels, _Count] = {}
        self._latency: dict[Labels, _Observations] = {}
        self._alerts: dict[Labels, _Count] = {}
        # Exported at 0 from the start, so `rate()` and absence alerts work before any alert.
        for outcome in ALERT_OUTCOMES:
            self._alerts[(outcome,)] = _Count()
        # The hot path's series by its raw arguments, saving the label formatting; several
        # keys can share a series (None and "" are both `unknown`).
        self._request_series: dict[tuple[str | None, int, str], _Count] = {}
        self._latency_series: dict[str | None, _Observations] = {}
        self._registry: CollectorRegistry | None = None

    def observe_exchange(
        self,
        operation_id: str | None,
        status: int,
        source: str,
        upstream_latency: float | None = None,
    ) -> None:
        """Count one exchange, and observe the upstream's latency when there was one."""
        key = (operation_id, status, source)
        count = self._request_series.get(key)
        if count is None:
            labels: Labels = (operation_label(operation_id), str(status), source)
            count = self._request_series[key] = _series(self._requests, labels, _Count)
        count.value += 1
        if upstream_latency is not None:
            histogram = self._latency_series.get(operation_id)
            if histogram is None:
                histogram = _series(self._latency, (operation_label(operation_id),), _Observations)
                self._latency_series[operation_id] = histogram
            histogram.observe(upstream_latency)

    def count_violations(self, operation_id: str | None, violations: list[Violation]) -> None:
        """Count each violation of one exchange by operation, location, code and severity.

        `severity` (`Error` or `Warning`) is a label so that an alert can fire on Errors
        alone: request Warnings are routine in staging, an Error is the portal breaking
        its contract.
        """
        operation = operation_label(operation_id)
        for item in violations:
            labels = (operation, location_label(item), str(item["code"]), item["severity"])
            _series(self._violations, labels, _Count).value += 1

    def count_alert(self, outcome: AlertOutcome) -> None:
        """Count one webhook alert as sent, failed or dropped."""
        _series(self._alerts, (outcome,), _Count).value += 1

    @property
    def registry(self) -> CollectorRegistry:
        """A prometheus_client registry of these metrics (this gateway's, never the global)."""
        if self._registry is None:
            from prometheus_client import CollectorRegistry
            from prometheus_client.registry import Collector

            metrics = self

            class Export(Collector):
                def collect(self) -> Iterator[Metric]:
                    return metrics._families()

            self._registry = CollectorRegistry()
            self._registry.register(Export())
        return self._registry

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition body and its Content-Type, for `GET /__proxy/metrics`.

        `accept` is the scraper's `Accept` header. Without one, this is the classic text
        format labelled `version=0.0.4`, which every Prometheus parses: the
        `CONTENT_TYPE_LATEST` label (`version=1.0.0`) is only what the scraper asked for, as
        prometheus-client itself serves it.
        """
        from prometheus_client.exposition import choose_encoder

        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type

    def _families(self) -> Iterator[Metric]:
        """The metric families, as prometheus_client's `Counter` and `Histogram` export them."""
        yield _counter(_REQUESTS, self._requests)
        yield _counter(_VIOLATIONS, self._violations)
        yield _histogram(_LATENCY, self._latency)
        yield _counter(_ALERTS, self._alerts)


_S = TypeVar("_S", _Count, _Observations)


def _series(table: dict[Labels, _S], labels: Labels, make: type[_S]) -> _S:
    series = table.get(labels)
    if series is None:
        series = table[labels] = make()
    return series


def _counter(family: tuple[str, str, Labels], series: dict[Labels, _Count]) -> Metric:
    from prometheus_client.metrics_core import CounterMetricFamily

    name, documentation, label_names = family
    created = _created_series()
    counter = CounterMetricFamily(name, documentation, labels=label_names)
    for labels, count in series.items():
        counter.add_metric(labels, count.value, count.created if created else None)
    return counter


def _histogram(family: tuple[str, str, Labels], series: dict[Labels, _Observations]) -> Metric:
    from prometheus_client.metrics_core import HistogramMetricFamily
    from prometheus_client.utils import floatToGoString

    name, documentation, label_names = family
    created = _created_series()
    # `le` values spelled as `Histogram` spells them ("1.0", "+Inf").
    bounds: list[str] = [floatToGoString(b) for b in _BOUNDS]  # type: ignore[no-untyped-call]
    histogram = HistogramMetricFamily(name, documentation, labels=label_names)
    for labels, observations in series.items():
        cumulative, buckets = 0.0, []
        for bound, count in zip(bounds, observations.buckets, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        histogram.add_metric(labels, buckets, observations.sum)
        if created:  # the family has no argument for it; `Histogram` exports it last
            by_name = dict(zip(label_names, labels, strict=True))
            histogram.add_sample(f"{name}_created", by_name, observations.created)
    return histogram


def _created_series() -> bool:
    # prometheus_client's own switch for the `_created` series, read as it reads it.
    value = os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "False")
    return value.lower() not in ("true", "1", "t")
