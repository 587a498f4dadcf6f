"""A stand-in for the Tyk portal's client_types route, for tests, benchmarks and demos.

A real portal needs a licence, so tests record from this instead. It answers like the
portal: 201 with the attached client type (echoing `ID`), 401 without `Authorization`,
422 `{"errors": [...]}` for a bad payload, 404 for a non-integer product id. A test can
queue scripted responses (`script`) to make it misbehave, and read what it received.

Run it alone: `python -m proxy.standin --port 18001`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gzip
from collections import deque
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from proxy.responses import PASSTHROUGH, strip_invented_headers


@dataclass(slots=True)
class Scripted:
    """One canned response: status, headers and raw body bytes (sent as they are)."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0


@dataclass(slots=True)
class Received:
    """A request as the stand-in saw it."""

    method: str
    path_qs: str
    headers: list[tuple[str, str]]
    body: bytes


async def _strip_invented_headers(request: web.Request, response: web.StreamResponse) -> None:
    strip_invented_headers(response)


class Standin:
    """State of one stand-in portal: scripted responses and the requests it received."""

    def __init__(self, *, gzip_responses: bool = False, invalid: bool = False) -> None:
        self.script: deque[Scripted] = deque()
        self.received: list[Received] = []
        self.gzip_responses = gzip_responses
        self.invalid = invalid
        self.keep_received = True

    def app(self) -> web.Application:
        """The aiohttp application serving the route."""
        app = web.Application()
        app[STANDIN] = self
        app.on_response_prepare.append(_strip_invented_headers)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one request: the next scripted response, else the portal's behaviour."""
        body = await request.read()
        if self.keep_received:
            self.received.append(
                Received(
                    request.method, request.rel_url.raw_path_qs, list(request.headers.items()), body
                )
            )
        if self.script:
            canned = self.script.popleft()
            if canned.delay:
                await asyncio.sleep(canned.delay)
            response = web.Response(status=canned.status, body=canned.body)
            for name, value in canned.headers:
                response.headers.add(name, value)
            # Exactly the scripted headers: no Content-Type/Server/Date added by aiohttp.
            response[PASSTHROUGH] = frozenset(name.lower() for name, _ in canned.headers)
            return response
        return self.portal(request, body)

    def portal(self, request: web.Request, body: bytes) -> web.Response:
        """The portal's own behaviour for the route."""
        parts = request.path.split("/")
        route = (
            len(parts) == 5
            and parts[1:3] == ["portal-api", "products"]
            and parts[4] == ("client_types")
        )
        if not route:
            return _json(404, {"errors": ["Not Found"]})
        if request.method != "POST":
            return _json(405, {"errors": ["Method Not Allowed"]})
        if not request.headers.get("Authorization", "").strip():
            return _json(401, {"errors": ["Not authorised"]})
        if not parts[3].isascii() or not parts[3].isdigit():
            return _json(404, {"errors": ["Product not found"]})
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _json(422, {"errors": ["Invalid payload: request body is not valid JSON"]})
        client_id = payload.get("ID") if isinstance(payload, dict) else None
        if not isinstance(client_id, int) or isinstance(client_id, bool):
            return _json(422, {"errors": ["Invalid payload: ID must be an integer"]})
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
        created = {
            "Name": "foo",
            "ID": client_id,
            "Description": "Web application",
            "GrantType": "bogus" if self.invalid else "authorization_code",
            "OktaAppType": "web",
            "CreatedAt": "2023-06-23T21:02:00Z" if self.invalid else now,
            "UpdatedAt": now,
        }
        response = _json(201, created)
        if self.gzip_responses:
            assert isinstance(response.body, bytes)
            response.body = gzip.compress(response.body)
            response.headers["Content-Encoding"] = "gzip"
        return response


STANDIN = web.AppKey("standin", Standin)


def _json(status: int, value: object) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(value), content_type="application/json")


def main() -> None:
    """Serve the stand-in on loopback (for manual runs and benchmarks)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18001)
    parser.add_argument("--gzip", action="store_true", help="gzip the 201 bodies")
    parser.add_argument("--invalid", action="store_true", help="answer schema-violating 201s")
    args = parser.parse_args()
    standin = Standin(gzip_responses=args.gzip, invalid=args.invalid)
    standin.keep_received = False
    web.run_app(standin.app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
