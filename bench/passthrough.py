"""A plain aiohttp pass-through proxy with no validation: the yardstick for `proxy` and `record`.

One `ClientSession` (made at start-up, closed at shutdown) forwards every request to the
upstream as it came (less hop-by-hop headers) and returns the upstream's status, headers and
body bytes. No spec, no cassette, no logging: what any aiohttp proxy pays at least.

Run: `python bench/passthrough.py --port 18101 --upstream http://127.0.0.1:18190`; for an
https upstream, `--ca FILE` names the PEM CA file its certificate is verified against.
"""

from __future__ import annotations

import argparse
import ssl
from collections.abc import AsyncIterator

from aiohttp import ClientSession, TCPConnector, web
from multidict import CIMultiDict

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",  # set again by aiohttp for the body it sends
    }
)

SESSION = web.AppKey("session", ClientSession)
UPSTREAM = web.AppKey("upstream", str)


def _forwardable(headers: CIMultiDict[str]) -> CIMultiDict[str]:
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in HOP_BY_HOP)


async def forward(request: web.Request) -> web.Response:
    """Send the request upstream and hand back what came back."""
    body = await request.read()
    async with request.app[SESSION].request(
        request.method,
        request.app[UPSTREAM] + request.rel_url.raw_path_qs,
        headers=_forwardable(CIMultiDict(request.headers)),
        data=body,
        allow_redirects=False,
        auto_decompress=False,
    ) as upstream:
        payload = await upstream.read()
        headers = _forwardable(CIMultiDict(upstream.headers))
        return web.Response(status=upstream.status, headers=headers, body=payload)


def build_app(upstream: str, ca: str | None = None) -> web.Application:
    """The proxy application for `upstream` (an origin such as http://127.0.0.1:18190);
    `ca`: a PEM file of CA certificates to verify an https upstream with (else the system's)."""
    app = web.Application()
    # Verified TLS, as the gateway's `--upstream-ca` does: the like-for-like yardstick.
    tls: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca) if ca else True
    app[UPSTREAM] = upstream.rstrip("/")

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        app[SESSION] = ClientSession(
            connector=TCPConnector(limit=100, ssl=tls),
            # send what the client sent, nothing invented (as the gateway's upstream client)
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )
        yield
        await app[SESSION].close()

    app.cleanup_ctx.append(session_ctx)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def main() -> None:
    """Serve on loopback until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18101)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--ca", metavar="FILE", help="PEM CA file for an https upstream")
    args = parser.parse_args()
    web.run_app(
        build_app(args.upstream, args.ca),
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
    )


if __name__ == "__main__":
    main()
