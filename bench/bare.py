"""The limit for an aiohttp server: the route answered with a fixed 201 JSON and no logic.

No auth check, no body parsing, no validation, a pre-serialised body (the stand-in's answer to
`{"ID": 11}`). Anything built on aiohttp can at best approach it on the same core.

Run: `python bench/bare.py --port 18100 [--uvloop]` (`--uvloop`: the event loop of the
`fast` extra, to see what it would buy an aiohttp server on this machine).
"""

from __future__ import annotations

import argparse

from aiohttp import web

BODY = (
    b'{"Name":"foo","ID":11,"Description":"Web application","GrantType":"authorization_code",'
    b'"OktaAppType":"web","CreatedAt":"2023-06-23 21:02","UpdatedAt":"2023-06-23 21:02"}'
)


async def client_types(request: web.Request) -> web.Response:
    """The fixed 201."""
    return web.Response(body=BODY, status=201, content_type="application/json", charset="utf-8")


def main() -> None:
    """Serve on loopback until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18100)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop's event loop")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        uvloop.install()
    app = web.Application()
    app.router.add_post("/portal-api/products/{product_id}/client_types", client_types)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
