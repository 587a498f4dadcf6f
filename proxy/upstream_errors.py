"""Why the upstream gave no answer, as one typed error naming the upstream and the cause.

Every aiohttp, OS and TLS failure of a forwarded request becomes an `UpstreamError` here,
at the boundary (`raise ... from exc`): the client gets a problem of its kind, the log and
readiness get the cause in words.
"""

from __future__ import annotations

import aiohttp

from proxy.tls import describe_failure, find_ssl_error


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


def classify(exc: BaseException, origin: str, *, client_cert: bool) -> UpstreamError:
    """The typed error for an aiohttp/OS failure: its cause, in words naming the upstream."""
    tls = find_ssl_error(exc)
    if tls is not None or isinstance(exc, aiohttp.ClientSSLError):
        what = describe_failure(tls) if tls is not None else str(exc)
        return UpstreamError("tls", f"TLS with upstream {origin} failed: {what}")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return UpstreamError("malformed", f"upstream {origin} sent an incomplete response: {exc}")
    if isinstance(exc, aiohttp.ClientResponseError):
        # aiohttp's parser message quotes the offending bytes on later lines: not logged.
        first = exc.message.strip().splitlines()[0] if exc.message.strip() else "unparsable"
        return UpstreamError("malformed", f"upstream {origin} sent a malformed response: {first}")
    reason = str(exc) or type(exc).__name__
    detail = f"upstream {origin} could not be reached: {reason}"
    https = origin.startswith("https:")
    # Connected, then dropped: what a server that wants a client certificate does to us
    # under TLS 1.3 (its refusal comes after the handshake, often as a bare reset).
    dropped = isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError)
    dropped = dropped and not isinstance(exc, aiohttp.ClientConnectorError)
    if dropped and https and not client_cert:
        detail += (
            " (an https upstream that requires a client certificate closes the "
            "connection like this: see --upstream-cert)"
        )
    return UpstreamError("unreachable", detail)
