"""The same-run comparisons of issues 12-16: which ratios, and their section of RESULTS.md.

Each compares a target with a feature on (bench/same_run.py) against the same run's target
without it. They are reported with their same-round range, not gated by a minimum.
"""

from __future__ import annotations

from dataclasses import dataclass

from results import CONC, Ratio, TargetResult, paired_range, ratio_value


@dataclass(frozen=True)
class Comparison:
    """A same-run comparison for issues 12-16: `ratio` (with the feature), read next to
    `without` (the same run's ratio without it), if any. Reported, not gated."""

    issue: str
    ratio: Ratio
    without: Ratio | None = None


def _r(label: str, numerator: str, denominator: str) -> Ratio:
    return Ratio(label, numerator, denominator, minimum=0.0)  # no minimum: not gated


COMPARISONS = (
    Comparison(
        "12",
        _r("mock / bare aiohttp, access log on (default)", "mock", "bare-aiohttp"),
        _r("mock-quiet / bare aiohttp, access log off", "mock-quiet", "bare-aiohttp"),
    ),
    Comparison("12", _r("mock / mock-quiet: the access log's cost", "mock", "mock-quiet")),
    Comparison(
        "12",
        _r("mock-cors / bare aiohttp, CORS on, Origin sent", "mock-cors", "bare-aiohttp"),
        _r("mock / bare aiohttp, no Origin", "mock", "bare-aiohttp"),
    ),
    Comparison(
        "13",
        _r("mock / bare aiohttp, state on (default)", "mock", "bare-aiohttp"),
        _r("mock-stateless / bare aiohttp, --state off", "mock-stateless", "bare-aiohttp"),
    ),
    Comparison(
        "14",
        _r("proxy-https / passthrough-https, TLS upstream", "proxy-https", "passthrough-https"),
        _r("proxy / passthrough, plain http", "proxy", "passthrough"),
    ),
    Comparison(
        "16",
        _r("proxy-watched / passthrough, stream client attached", "proxy-watched", "passthrough"),
        _r("proxy-violating / passthrough, no stream client", "proxy-violating", "passthrough"),
    ),
    Comparison(
        "16",
        _r("proxy-watched / proxy-violating: stream cost", "proxy-watched", "proxy-violating"),
    ),
)


def section(results: dict[str, TargetResult]) -> list[str]:
    """The "Same-run comparisons" section of RESULTS.md."""
    lines = [
        "## Same-run comparisons, issues 11-16",
        "",
        f"What a feature costs: ratios of the median requests/s at c={CONC} of targets that "
        "differ in that feature only, measured in the same interleaved rounds (same-round "
        "range as above). Reported, not gated: no target applies.",
        "",
        "| issue | with the feature | value | same-round range | without it (same run) | value "
        "| same-round range |",
        "|---|---|---:|---:|---|---:|---:|",
    ]

    def cells(ratio: Ratio | None) -> str:
        if ratio is None:
            return " | |"
        value, pair = ratio_value(results, ratio), paired_range(results, ratio)
        shown = "n/a" if value is None else f"{value:.2f}"
        return f" {shown} | {f'{pair[0]:.2f}-{pair[1]:.2f}' if pair else ''} |"

    for c in COMPARISONS:
        without = c.without.label if c.without else ""
        lines.append(f"| {c.issue} | {c.ratio.label} |{cells(c.ratio)} {without} |"
                     f"{cells(c.without)}")  # fmt: skip
    lines += ["", *_notes(results), ""]
    return lines


def _notes(results: dict[str, TargetResult]) -> list[str]:
    notes = [
        "- Access log (issue 12): it is on by default since issue 12, so `mock / bare aiohttp` "
        "now includes it; `mock-quiet / bare aiohttp` (access log off) is the figure to "
        "compare with runs before issue 12.",
        "- CORS (issue 12): `mock` answers CORS too (`--cors auto` is on in mock), but wrk "
        "sends no `Origin`, so it does none of the work; mock-cors sends "
        "`Origin: http://127.0.0.1:8080` on every request (its first answer is checked for "
        "`Access-Control-Allow-Origin`).",
        "- TLS (issue 14): the TLS stand-in is the same `proxy.standin` app with an ssl "
        "context (bench/standin_tls.py, certificates from trustme made at bench start); both "
        "https targets verify it against that CA (`--upstream-ca`, passthrough.py `--ca`).",
        "- Violations stream (issue 16): proxy-violating and proxy-watched forward to a "
        "stand-in answering schema-violating 201s (`python -m proxy.standin --invalid`: "
        "every answer carries `sl-violations` and is kept and streamed; 201 is still the "
        "status counted as OK). The pass-through denominator is the plain `passthrough` "
        "(its stand-in's 201 has the same shape and size; a second pass-through would only "
        "add a minute to the run): the issue's 'proxy/pass-through with a page open against "
        "without' is the first row, and `proxy-watched / proxy-violating`, with no "
        "pass-through in it, is the stream's cost read directly.",
    ]
    for res in results.values():
        if res.stream_events is not None:
            ended = (
                f"the gateway ended its stream {res.stream_reconnects} times (a client that "
                "fell behind) and it reconnected at once each time"
                if res.stream_reconnects
                else "the gateway never ended its stream (it never fell behind)"
            )
            notes.append(
                f"- {res.name}: the stream client (bench/stream_client.py, on the load core) "
                f"read {res.stream_events:,} violation events while wrk completed "
                f"{res.stream_requests:,} requests over all its measured runs (events can "
                f"exceed requests: wrk does not count those in flight when it stops); {ended}."
            )
    return notes


def values(results: dict[str, TargetResult]) -> dict[str, float | None]:
    """Every ratio of the comparisons by label, for results.json."""
    return {
        r.label: ratio_value(results, r)
        for c in COMPARISONS
        for r in (c.ratio, c.without)
        if r is not None
    }
