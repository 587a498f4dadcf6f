"""Answers from the upstream portal: forward, validate its response, record if recording.

Traffic flows on unharmed: the client gets the upstream's status, headers and bytes, plus
our headers. Requests the spec does not describe are forwarded too, with a Warning.
With `strict` (Prism's `--errors`), an invalid upstream response is replaced by a 502.
"""

from __future__ import annotations

from aiohttp import web

from proxy.exchange import Exchange, is_preflight
from proxy.failure_log import FailureLog
from proxy.problems import problem
from proxy.recorder import Recorder
from proxy.responses import passthrough
from proxy.upstream import Upstream
from proxy.upstream_errors import UpstreamError
from proxy.validation import validate_response
from proxy.violations import has_errors, violation


class UpstreamSource:
    """Forwards every request it is given; never passes."""

    def __init__(self, upstream: Upstream, recorder: Recorder | None, *, strict: bool) -> None:
        self.upstream = upstream
        self.recorder = recorder
        self.strict = strict
        # Every failure in the log, at most one line per cause per second.
        self.failures = FailureLog(upstream.origin)

    async def answer(self, ex: Exchange) -> web.StreamResponse | None:
        """Forward `ex`; a failure becomes a 502/504 problem response."""
        request = ex.request
        if ex.operation is None:
            # Staging: traffic the spec does not describe still flows, and is reported.
            what = "path" if ex.route is None else f"method {request.method} on this path"
            ex.violations.append(
                violation(
                    ["request"],
                    404 if ex.route is None else 405,
                    f"{what} is not in the spec: {request.method} {request.rel_url.raw_path}",
                    "Warning",
                )
            )
        try:
            answer = await self.upstream.send(
                request.method, ex.raw_path_qs, request.headers.items(), ex.body
            )
        except UpstreamError as exc:
            self.failures.note(exc)
            return problem(exc.problem_kind, exc.detail, upstream=self.upstream.origin)
        ex.upstream_latency = answer.latency
        ex.source = "upstream"
        checked = len(ex.violations)
        if ex.operation is not None:
            ex.violations.extend(
                validate_response(ex.operation, answer.status, answer.headers, answer.body)
            )
        # With CORS off, a preflight is forwarded (the upstream answers it) but never
        # recorded: a replay answers preflights itself.
        if self.recorder is not None and not is_preflight(request):
            self.recorder.record(ex, answer)
        if self.strict and has_errors(ex.violations[checked:]):
            return problem(
                "invalid-upstream-response",
                f"the upstream's {answer.status} response violates the spec",
                violations=ex.violations[checked:],
                upstream=self.upstream.origin,
            )
        return passthrough(
            answer.status, answer.reason, answer.headers.items(), answer.body, "upstream"
        )

    async def close(self) -> None:
        """Log what the failure log still holds back (how many lines it suppressed)."""
        self.failures.close()
