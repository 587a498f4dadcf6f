"""The one client session to the upstream portal: forward a request, return the raw response.

The upstream gets the client's request as received, less hop-by-hop headers and with `Host`
set for the upstream; the response comes back undecoded (a gzip body stays gzip) so that the
client can be sent the same bytes. Only the configured origin is ever contacted: the target
URL is built from our origin and the request's path, never from its `Host` or an absolute
request-target.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from proxy.readiness import Readiness
from proxy.tls import client_context
from proxy.upstream_errors import UpstreamError, classify

if TYPE_CHECKING:
    from proxy.settings import Settings

log = logging.getLogger("portal_proxy.upstream")

#: How long a readiness probe waits for any answer (capped by --upstream-timeout).
PROBE_TIMEOUT = 2.0

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


def env_proxy(origin: str) -> str | None:
    """The proxy `HTTPS_PROXY`/`HTTP_PROXY` name for `origin`, unless `NO_PROXY` exempts it.

    Worked out once at start, for our one origin: aiohttp's `trust_env` would look it up on
    every request (in a thread) and also send `~/.netrc` credentials nobody asked for.
    """
    proxies = urllib.request.getproxies_environment()  # lower case wins, as curl has it
    parts = urlsplit(origin)
    chosen = proxies.get(parts.scheme)
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if not chosen or bypass(parts.netloc, proxies):
        return None
    return str(chosen)


@functools.cache
def _default_context() -> ssl.SSLContext:
    """The context aiohttp would use without TLS options: system CAs, full verification."""
    return ssl.create_default_context()


class Upstream:
    """Forwards requests to one origin over one pooled `ClientSession`.

    It also knows whether the upstream answers (`readiness`): every forwarded request and
    a periodic probe report to it.
    """

    def __init__(
        self,
        url: str,
        base_path: str,
        timeout: float,
        ssl_context: ssl.SSLContext | None = None,
        ready_interval: float = 5.0,
        client_cert: bool = False,
    ) -> None:
        self.origin, self.prefix = split_upstream(url, base_path)
        self.host = urlsplit(self.origin).netloc
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.client_cert = client_cert  # presents one (`ssl_context` has it loaded)
        self.readiness = Readiness(self.probe, ready_interval)
        self._session: aiohttp.ClientSession | None = None
        self._proxy: URL | None = None
        self._proxy_auth: aiohttp.BasicAuth | None = None

    @classmethod
    def from_settings(cls, settings: Settings, base_path: str) -> Upstream:
        """The upstream that `--upstream` and its TLS options describe."""
        assert settings.upstream is not None
        return cls(
            settings.upstream,
            base_path,
            settings.upstream_timeout,
            ssl_context=client_context(settings),
            ready_interval=settings.ready_interval,
            client_cert=settings.upstream_cert is not None,
        )

    async def start(self) -> None:
        """Open the session (inside the running loop) and start watching readiness."""
        context = self.ssl_context
        if context is not None and context.verify_mode == ssl.CERT_NONE:
            log.warning(
                "--upstream-insecure: the TLS certificate of %s is NOT verified; anyone on "
                "the path can pose as the upstream",
                self.origin,
            )
        proxy = env_proxy(self.origin)
        if proxy is not None:
            url = URL(proxy)
            if url.user is not None:
                self._proxy_auth = aiohttp.BasicAuth(url.user, url.password or "")
            self._proxy = url.with_user(None)
            log.info("upstream %s is reached through the proxy %s", self.origin, self._proxy)
        self._session = aiohttp.ClientSession(
            # Pass bodies through untouched: no decompression, no invented headers.
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            connector=aiohttp.TCPConnector(
                limit=256, force_close=False, ssl=context if context is not None else True
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        await self.readiness.start()

    async def close(self) -> None:
        """Stop the readiness probe, close the session and its connections."""
        await self.readiness.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def probe(self) -> None:
        """A cheap check that the upstream is there: a TCP connection (and the TLS handshake,
        for https), closed at once; to the proxy instead when one is in the way.

        No HTTP request is sent: the upstream's handlers never see a probe (a scripted
        stand-in keeps its script, a real portal's logs stay clean). Raises `UpstreamError`.
        """
        target = self._proxy if self._proxy is not None else URL(self.origin)
        tls = self._proxy is None and target.scheme == "https"
        context = (self.ssl_context or _default_context()) if tls else None
        timeout = min(self.timeout, PROBE_TIMEOUT)
        try:
            async with asyncio.timeout(timeout):
                _, writer = await asyncio.open_connection(
                    target.host,
                    target.port,
                    ssl=context,
                    server_hostname=target.host if tls else None,
                )
        except TimeoutError as exc:
            raise UpstreamError(
                "timeout",
                f"upstream {self.origin} did not accept a connection within {timeout:g} s",
            ) from exc
        except OSError as exc:
            raise classify(exc, self.origin, client_cert=self.client_cert) from exc
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(timeout):
                await writer.wait_closed()

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
                proxy=self._proxy,
                proxy_auth=self._proxy_auth,
            ) as response:
                payload = await response.read()
                answer = UpstreamResponse(
                    status=response.status,
                    reason=response.reason or "",
                    headers=response.headers,
                    body=payload,
                    latency=time.perf_counter() - started,
                    url=url,
                )
        except TimeoutError as exc:
            error = UpstreamError(
                "timeout", f"upstream {self.origin} did not answer within {self.timeout:g} s"
            )
            self.readiness.note_failure(error.detail)
            raise error from exc
        except (aiohttp.ClientError, OSError) as exc:
            error = classify(exc, self.origin, client_cert=self.client_cert)
            self.readiness.note_failure(error.detail)
            raise error from exc
        except asyncio.CancelledError:
            raise
        self.readiness.note_success()
        return answer
