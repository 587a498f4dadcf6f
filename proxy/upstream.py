"""The one client session to the upstream portal: forward a request, return the raw response.

The upstream gets the client's request as received, less hop-by-hop headers and with `Host`
set for the upstream; the response comes back undecoded (a gzip body stays gzip) so that the
client can be sent the same bytes. Only the configured origin is ever contacted: the target
URL is built from our origin and the request's path, never from its `Host` or an absolute
request-target.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

#: RFC 9110 section 7.6.1, plus the non-standard ones proxies traditionally drop.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


class UpstreamError(Exception):
    """The upstream could not give an answer; `kind` is `unreachable` or `timeout`."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    """What the upstream sent: status line, headers in order, body bytes as on the wire."""

    status: int
    reason: str
    headers: CIMultiDictProxy[str]
    body: bytes
    latency: float
    url: str


def end_to_end(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Drop hop-by-hop headers, including any that `Connection` names."""
    pairs = list(headers)
    named = {
        token.strip().lower()
        for name, value in pairs
        if name.lower() == "connection"
        for token in value.split(",")
    }
    return [(n, v) for n, v in pairs if n.lower() not in HOP_BY_HOP and n.lower() not in named]


def split_upstream(url: str, base_path: str) -> tuple[str, str]:
    """`http://portal:3001/portal-api` -> (`http://portal:3001`, ``): origin and path prefix.

    A trailing path equal to the spec's base path is dropped so it is never doubled (the
    request path already carries it).
    """
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    prefix = parts.path.rstrip("/")
    if base_path and prefix.endswith(base_path):
        prefix = prefix[: -len(base_path)]
    return origin, prefix


class Upstream:
    """Forwards requests to one origin over one pooled `ClientSession`."""

    def __init__(self, url: str, base_path: str, timeout: float) -> None:
        self.origin, self.prefix = split_upstream(url, base_path)
        self.host = urlsplit(self.origin).netloc
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the session (inside the running loop)."""
        self._session = aiohttp.ClientSession(
            # Pass bodies through untouched: no decompression, no invented headers.
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            connector=aiohttp.TCPConnector(limit=256, force_close=False),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close(self) -> None:
        """Close the session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def url_for(self, raw_path_qs: str) -> str:
        """The absolute upstream URL for a request's raw path and query."""
        return f"{self.origin}{self.prefix}{raw_path_qs}"

    async def send(
        self, method: str, raw_path_qs: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> UpstreamResponse:
        """Forward one request; raise `UpstreamError` naming the upstream when it fails."""
        assert self._session is not None, "Upstream.start() was not awaited"
        url = self.url_for(raw_path_qs)
        outgoing: CIMultiDict[str] = CIMultiDict()
        for name, value in end_to_end(headers):
            if name.lower() not in ("host", "content-length"):
                outgoing.add(name, value)
        outgoing["Host"] = self.host
        started = time.perf_counter()
        try:
            async with self._session.request(
                method,
                URL(url, encoded=True),
                headers=outgoing,
                data=body if body else None,
                allow_redirects=False,
            ) as response:
                payload = await response.read()
                return UpstreamResponse(
                    status=response.status,
                    reason=response.reason or "",
                    headers=response.headers,
                    body=payload,
                    latency=time.perf_counter() - started,
                    url=url,
                )
        except TimeoutError as exc:
            raise UpstreamError(
                "timeout", f"upstream {self.origin} did not answer within {self.timeout:g} s"
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            reason = str(exc) or type(exc).__name__
            raise UpstreamError(
                "unreachable", f"upstream {self.origin} could not be reached: {reason}"
            ) from exc
        except asyncio.CancelledError:
            raise
