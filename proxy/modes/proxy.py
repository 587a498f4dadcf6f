"""`proxy`: forward everything to the upstream, validating both directions on the way.

Traffic flows on unharmed: the client gets the upstream's status, headers and bytes, plus
our headers. With `--strict` (Prism's `--errors`), an invalid request is refused as the
mock would refuse it, and an invalid upstream response is replaced by a 502 problem.
"""

from __future__ import annotations

from aiohttp import web

from proxy.exchange import Exchange
from proxy.gateway import Gateway
from proxy.problems import problem
from proxy.responses import passthrough, request_error
from proxy.violations import has_errors


async def serve(gateway: Gateway, ex: Exchange, *, record: bool = False) -> web.StreamResponse:
    """Forward one request (and record it when `record`)."""
    strict = gateway.settings.strict
    if strict and has_errors(ex.violations):
        ex.source = "gateway"
        return request_error(ex.violations, "gateway")
    checked = len(ex.violations)
    answer = await gateway.forward(ex)
    if isinstance(answer, web.Response):
        return answer
    if record:
        gateway.record(ex, answer)
    if strict and has_errors(ex.violations[checked:]):
        return problem(
            "invalid-upstream-response",
            f"the upstream's {answer.status} response violates the spec",
            violations=ex.violations[checked:],
            upstream=gateway.upstream.origin if gateway.upstream else None,
        )
    return passthrough(
        answer.status, answer.reason, answer.headers.items(), answer.body, "upstream"
    )
