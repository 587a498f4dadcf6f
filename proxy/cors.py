"""CORS, so that a browser app on another origin can call the gateway (`--cors`).

A browser asks first with a preflight (`OPTIONS` with `Origin` and
`Access-Control-Request-Method`), then sends the call, and lets the page read the answer only
when it names the page's origin. With CORS on (`proxy.modes.cors_enabled`), this middleware:

- answers every preflight itself: 204 on a path the spec knows, with the methods the spec
  documents there and every header the browser asked for (a credentialed call may not use
  `*`); the gateway's 404 on any other path; a 403 problem for an origin `--cors-origin` does
  not list. A preflight is never forwarded, recorded, validated or counted: it reaches no
  sink but the access log.
- marks every other response to a request with `Origin`, whatever its status or source, so
  the page can read it and its `sl-violations` and `X-Portal-Proxy-Source`. Any CORS header
  the upstream or a cassette had is replaced: a browser refuses two `Allow-Origin` values.
  In `record`, the cassette was written from the upstream's answer before this runs.

`/__proxy/*` stays same-origin: an admin endpoint is no business of a page on another origin.
"""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from proxy import admin
from proxy.exchange import is_preflight
from proxy.pipeline import unknown_route
from proxy.problems import SOURCE_HEADER, problem
from proxy.responses import UPSTREAM_VERDICT_HEADER, VERDICT_HEADER
from proxy.sinks.access_log import AccessLog
from proxy.spec import Spec

#: The headers a page may read besides the CORS-safelisted ones: the gateway's verdict.
EXPOSED = (VERDICT_HEADER, UPSTREAM_VERDICT_HEADER, SOURCE_HEADER)
#: How long a browser may cache a preflight, in seconds (Chromium caps it at 7200).
MAX_AGE = "600"
_PREFIX = "access-control-"


class CorsPolicy:
    """Who may call (`origins`; empty: any origin, echoed) and what the spec allows."""

    def __init__(self, spec: Spec, origins: tuple[str, ...]) -> None:
        self.spec = spec
        self.origins = frozenset(origins)

    def allows(self, origin: str) -> bool:
        """True for an origin the page may call from."""
        return not self.origins or origin.lower() in self.origins

    def preflight(self, request: web.BaseRequest, origin: str) -> web.Response:
        """The gateway's own answer to a preflight."""
        if not self.allows(origin):
            return problem(
                "cors-origin-not-allowed",
                f"origin {origin} is not allowed; --cors-origin lists "
                f"{', '.join(sorted(self.origins))}",
                origin=origin,
            )
        route = self.spec.match("OPTIONS", request.rel_url.raw_path)
        if route is None:
            response = unknown_route(request, self.spec)
            self.decorate(response, origin)
            return response
        response = web.Response(status=204)
        headers = response.headers
        headers[SOURCE_HEADER] = "gateway"
        self.decorate(response, origin)
        headers["Access-Control-Allow-Methods"] = ", ".join(route.allowed)
        requested = request.headers.get("Access-Control-Request-Headers", "")
        names = [name.strip() for name in requested.split(",") if name.strip()]
        if names:
            headers["Access-Control-Allow-Headers"] = ", ".join(names)
        headers["Access-Control-Max-Age"] = MAX_AGE
        return response

    def decorate(self, response: web.StreamResponse, origin: str) -> None:
        """Replace the response's CORS headers by ours (none for an origin not allowed)."""
        headers = response.headers
        exposed = list(EXPOSED)
        for name in [name for name in headers if name.lower().startswith(_PREFIX)]:
            if name.lower() == "access-control-expose-headers":
                # What the upstream meant its own pages to read, the app may read too.
                for value in headers.getall(name):
                    exposed += [n.strip() for n in value.split(",") if n.strip()]
            headers.popall(name, None)
        if not self.allows(origin):
            return
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Allow-Credentials"] = "true"
        headers["Access-Control-Expose-Headers"] = ", ".join(dict.fromkeys(exposed))
        varies = [v.strip().lower() for line in headers.getall("Vary", ()) for v in line.split(",")]
        if "origin" not in varies and "*" not in varies:
            headers.add("Vary", "Origin")


def cors_middleware(policy: CorsPolicy, access_log: AccessLog | None) -> Middleware:
    """The middleware that applies `policy` (installed by `proxy.app` when CORS is on)."""

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is None or admin.owns(request.path):
            return await handler(request)
        if is_preflight(request):
            started = time.perf_counter()
            answer = policy.preflight(request, origin)
            # Answered here, not by the pipeline: the access log is the only sink it reaches.
            if access_log is not None:
                access_log.own(request, answer, started)
            return answer
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            policy.decorate(exc, origin)
            raise
        if not response.prepared:
            policy.decorate(response, origin)
        return response

    return cors
