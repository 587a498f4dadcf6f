"""What a bench run found: per-target results, medians, and the issue's ratios and limits."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from loadgen import Run

#: Concurrency of the throughput runs (the latency runs use 1).
CONC = 32


@dataclass
class TargetResult:
    """Everything measured for one target."""

    name: str
    group: str
    note: str
    status: str = "ok"  # or "skipped: ..." / "failed: ..."
    ready_s: float | None = None
    rss_idle_kb: int | None = None
    rss_after_kb: int | None = None
    warmup_rps: list[float] = field(default_factory=list)
    runs: dict[int, list[Run]] = field(default_factory=dict)
    cpu: dict[int, dict[str, float]] = field(default_factory=dict)  # conc -> Usage.percent()
    redone: int = 0  # rounds done again because other processes disturbed them
    # A target with a `watch` stream: events its client read, over how many requests.
    stream_events: int | None = None
    stream_reconnects: int = 0
    stream_requests: int = 0

    @property
    def ok(self) -> bool:
        """True when the target ran and produced results at concurrency `CONC`."""
        return self.status == "ok" and bool(self.runs.get(CONC))

    def rps(self, conc: int = CONC) -> float | None:
        """Median requests/s over the rounds at `conc`."""
        runs = self.runs.get(conc) or []
        return statistics.median(r.rps for r in runs) if runs else None

    def rps_range(self, conc: int = CONC) -> tuple[float, float] | None:
        """Lowest and highest requests/s of the rounds at `conc`."""
        runs = self.runs.get(conc) or []
        return (min(r.rps for r in runs), max(r.rps for r in runs)) if runs else None

    def latency(self, conc: int, key: str) -> float | None:
        """Median over the rounds of one latency percentile (`p50_ms`, `p99_ms`)."""
        runs = self.runs.get(conc) or []
        return statistics.median(getattr(r, key) for r in runs) if runs else None

    def totals(self, conc: int) -> tuple[int, int, int]:
        """201s, non-2xx responses and socket errors summed over the rounds at `conc`."""
        runs = self.runs.get(conc) or []
        return (
            sum(r.status_201 for r in runs),
            sum(r.non2xx for r in runs),
            sum(r.sock_errors for r in runs),
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain data, for results.json."""
        return {
            "name": self.name,
            "group": self.group,
            "note": self.note,
            "status": self.status,
            "ready_s": self.ready_s,
            "rss_idle_kb": self.rss_idle_kb,
            "rss_after_kb": self.rss_after_kb,
            "warmup_rps": self.warmup_rps,
            "rps_median": {str(c): self.rps(c) for c in self.runs},
            "runs": {str(c): [r.as_dict() for r in runs] for c, runs in self.runs.items()},
            "cpu_pct": {str(c): v for c, v in self.cpu.items()},
            "redone": self.redone,
            "stream": None
            if self.stream_events is None
            else {
                "events": self.stream_events,
                "reconnects": self.stream_reconnects,
                "requests": self.stream_requests,
            },
        }


@dataclass(frozen=True)
class Ratio:
    """A throughput ratio the issue asks for: `numerator / denominator >= minimum`."""

    label: str
    numerator: str
    denominator: str
    minimum: float
    stretch: bool = False


RATIOS = (
    Ratio("mock / bare aiohttp", "mock", "bare-aiohttp", 0.6),
    Ratio("mock / Prism mock", "mock", "prism-mock", 3.0),
    Ratio("mock, a new body each request / bare aiohttp", "mock-varied", "bare-aiohttp", 0.6),
    Ratio("replay / bare aiohttp", "replay-1", "bare-aiohttp", 0.75),
    Ratio("replay 1k / bare aiohttp", "replay-1k", "bare-aiohttp", 0.75),
    Ratio("replay 100k / bare aiohttp", "replay-100k", "bare-aiohttp", 0.75),
    Ratio("replay 100k / replay 1", "replay-100k", "replay-1", 0.95),
    Ratio("replay / talkback replay (stretch)", "replay-1", "talkback-replay", 1.0, stretch=True),
    Ratio(
        "replay on uvloop / talkback replay (stretch)",
        "replay-1-uvloop",
        "talkback-replay",
        1.0,
        stretch=True,
    ),
    Ratio("mock on uvloop / bare on uvloop", "mock-uvloop", "bare-uvloop", 0.6),
    Ratio("replay on uvloop / bare on uvloop", "replay-1-uvloop", "bare-uvloop", 0.75),
    Ratio("proxy / pass-through", "proxy", "passthrough", 0.8),
    Ratio("proxy / Prism proxy", "proxy", "prism-proxy", 4.0),
    Ratio("record / pass-through", "record", "passthrough", 0.6),
)

#: c=1 p99 of these may exceed bare aiohttp's by at most this many ms.
P99_TARGETS = ("mock", "replay-1")
P99_SLACK_MS = 0.5
STARTUP_LIMIT_S = 0.5
LOAD_100K_LIMIT_S = 3.0
#: "the last tenth as fast as the first": allowed shortfall on a noisy machine.
TENTHS_MINIMUM = 0.9


def ratio_value(results: dict[str, TargetResult], ratio: Ratio) -> float | None:
    """Ratio of the two medians, or None when either target has no result."""
    top, bottom = results.get(ratio.numerator), results.get(ratio.denominator)
    if not (top and bottom and top.ok and bottom.ok):
        return None
    a, b = top.rps(), bottom.rps()
    return a / b if a is not None and b else None


def paired_range(results: dict[str, TargetResult], ratio: Ratio) -> tuple[float, float] | None:
    """Lowest and highest ratio of same-round pairs (rounds are interleaved across targets)."""
    top, bottom = results.get(ratio.numerator), results.get(ratio.denominator)
    if not (top and bottom and top.ok and bottom.ok):
        return None
    pairs = [
        a.rps / b.rps for a, b in zip(top.runs[CONC], bottom.runs[CONC], strict=False) if b.rps
    ]
    return (min(pairs), max(pairs)) if pairs else None


def verdict(value: float | None, ok: bool) -> str:
    """'met' / 'MISSED' / 'n/a'."""
    if value is None:
        return "n/a"
    return "met" if ok else "**MISSED**"
