"""TLS towards the upstream: the client context the options ask for, and what a failure means.

`--upstream-ca` adds CAs to the system's (it never replaces them, unlike `SSL_CERT_FILE`),
`--upstream-insecure` turns verification off, `--upstream-cert`/`--upstream-key` present a
client certificate. Every file is read when the context is built, so `settings.check` calls
`client_context` at start and a bad file stops the gateway there, naming its option.

`describe_failure` turns OpenSSL's verify codes into the words an operator searches for
(`expired`, `hostname mismatch`, `unknown issuer`) plus what to do about it.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from proxy.settings import Settings


class TLSConfigError(ValueError):
    """A TLS option names a file that cannot be used; the message names the option."""


#: OpenSSL X509_V_ERR_* codes -> the words a detail leads with.
_VERIFY_CODES: dict[int, str] = {
    2: "unknown issuer",  # unable to get issuer certificate
    9: "certificate not yet valid",
    10: "certificate expired",
    18: "self-signed certificate",
    19: "self-signed certificate in the chain",
    20: "unknown issuer",  # unable to get local issuer certificate
    21: "unknown issuer",  # unable to verify the first certificate
    62: "hostname mismatch",
    64: "hostname mismatch (IP address)",
}

#: Codes a private CA explains, and the options that fix them.
_UNTRUSTED = frozenset({2, 18, 19, 20, 21})


def check_pem(path: Path, what: str) -> None:
    """Refuse a missing, unreadable or non-PEM file (`ValueError`, saying which) before
    OpenSSL gives a cryptic error. `what` is what the file should hold."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"no such file {str(path)!r}") from None
    except IsADirectoryError:
        raise ValueError(f"{str(path)!r} is a folder, not a PEM file") from None
    except OSError as exc:
        raise ValueError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    if b"-----BEGIN " not in data:
        raise ValueError(
            f"{str(path)!r} is not a PEM file (expected {what} between -----BEGIN and "
            "-----END lines)"
        )


#: What each file option holds, for messages.
PEM_CONTENT = {
    "upstream-ca": "CA certificates",
    "upstream-cert": "a certificate",
    "upstream-key": "a private key",
}


def _read_pem(option: str, path: Path) -> None:
    try:
        check_pem(path, PEM_CONTENT[option])
    except ValueError as exc:
        raise TLSConfigError(f"--{option}: {exc}") from None


def _no_passphrase() -> NoReturn:
    # Without a callback OpenSSL would prompt on the terminal and block the start.
    raise TLSConfigError("--upstream-key: the key is encrypted; give an unencrypted PEM key")


def client_context(settings: Settings) -> ssl.SSLContext | None:
    """The SSL context for the upstream, or None when no TLS option is set (aiohttp's default:
    the system's CAs, full verification). Raises `TLSConfigError` naming the bad option."""
    ca, cert, key = settings.upstream_ca, settings.upstream_cert, settings.upstream_key
    if ca is None and cert is None and key is None and not settings.upstream_insecure:
        return None
    if (cert is None) != (key is None):
        given, missing = ("cert", "key") if key is None else ("key", "cert")
        raise TLSConfigError(
            f"--upstream-{given}: needs --upstream-{missing} too (a client certificate is "
            "a certificate and its private key)"
        )
    if ca is not None and settings.upstream_insecure:
        raise TLSConfigError(
            "--upstream-insecure: cannot be combined with --upstream-ca (insecure skips the "
            "verification the CA is for)"
        )
    context = ssl.create_default_context()  # the system's CAs, hostname checks on
    if ca is not None:
        _read_pem("upstream-ca", ca)
        try:
            context.load_verify_locations(cafile=str(ca))
        except ssl.SSLError as exc:
            raise TLSConfigError(f"--upstream-ca: {str(ca)!r}: {exc.reason or exc}") from None
    if settings.upstream_insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert is not None and key is not None:
        _read_pem("upstream-cert", cert)
        _read_pem("upstream-key", key)
        try:
            context.load_cert_chain(str(cert), str(key), password=_no_passphrase)
        except ssl.SSLError as exc:
            raise TLSConfigError(
                f"--upstream-cert/--upstream-key: {str(cert)!r} with {str(key)!r}: "
                f"{exc.reason or exc} (is the key the certificate's?)"
            ) from None
    return context


def find_ssl_error(exc: BaseException) -> ssl.SSLError | None:
    """The `ssl.SSLError` behind an aiohttp or OS error, if there is one."""
    seen: BaseException | None = exc
    for _ in range(5):  # aiohttp wraps it at most a couple of levels deep
        if seen is None:
            return None
        # aiohttp's own errors subclass `ssl.SSLError` (without its fields): look inside first.
        inner = getattr(seen, "certificate_error", None) or getattr(seen, "os_error", None)
        if isinstance(inner, BaseException) and inner is not seen:
            seen = inner
            continue
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__
    return None


def describe_failure(error: ssl.SSLError) -> str:
    """What went wrong in a TLS handshake, in an operator's words, and what would fix it."""
    if isinstance(error, ssl.SSLCertVerificationError):
        code = error.verify_code
        words = _VERIFY_CODES.get(code, "certificate rejected")
        text = f"certificate verify failed: {words} ({error.verify_message})"
        if code in _UNTRUSTED:
            text += "; trust its CA with --upstream-ca FILE (or skip checks: --upstream-insecure)"
        return text
    reason = str(error.reason or error)
    text = f"TLS handshake failed: {reason}"
    if "CERTIFICATE_REQUIRED" in reason.upper():
        text += "; the upstream requires a client certificate: --upstream-cert/--upstream-key"
    return text
