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
from proxy.tls import client_context, describe_failure, find_ssl_error

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


class UpstreamError(Exception):
    """The upstream could not give an answer.

    `kind` is the cause: `unreachable`, `timeout`, `tls` (handshake or certificate) or
    `malformed` (an answer that is not HTTP, or cut short). `detail` names the upstream.
    """

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail

    @property
    def problem_kind(self) -> str:
        """The problem type the client gets (`proxy.problems`): 504 for a timeout, else 502.

        A malformed answer stays `upstream-unreachable` for clients (no usable answer came
        back); the log and readiness name the real cause.
        """
        return {"timeout": "upstream-timeout", "tls": "upstream-tls"}.get(
            self.kind, "upstream-unreachable"
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
            raise self._failure(exc) from exc
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
            error = self._failure(exc)
            self.readiness.note_failure(error.detail)
            raise error from exc
        except asyncio.CancelledError:
            raise
        self.readiness.note_success()
        return answer

    def _failure(self, exc: BaseException) -> UpstreamError:
        """The typed error for an aiohttp/OS failure: its cause, in words naming the upstream."""
        tls = find_ssl_error(exc)
        if tls is not None or isinstance(exc, aiohttp.ClientSSLError):
            what = describe_failure(tls) if tls is not None else str(exc)
            return UpstreamError("tls", f"TLS with upstream {self.origin} failed: {what}")
        if isinstance(exc, aiohttp.ClientPayloadError):
            return UpstreamError(
                "malformed", f"upstream {self.origin} sent an incomplete response: {exc}"
            )
        if isinstance(exc, aiohttp.ClientResponseError):
            # aiohttp's parser message quotes the offending bytes on later lines: not logged.
            first = exc.message.strip().splitlines()[0] if exc.message.strip() else "unparsable"
            return UpstreamError(
                "malformed", f"upstream {self.origin} sent a malformed response: {first}"
            )
        reason = str(exc) or type(exc).__name__
        detail = f"upstream {self.origin} could not be reached: {reason}"
        https = self.origin.startswith("https:")
        # Connected, then dropped: what a server that wants a client certificate does to us
        # under TLS 1.3 (its refusal comes after the handshake, often as a bare reset).
        dropped = isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError)
        dropped = dropped and not isinstance(exc, aiohttp.ClientConnectorError)
        if dropped and https and not self.client_cert:
            detail += (
                " (an https upstream that requires a client certificate closes the "
                "connection like this: see --upstream-cert)"
            )
        return UpstreamError("unreachable", detail)
