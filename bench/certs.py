"""Certificates for the TLS stand-in upstream (issue 14's https targets), made at bench start.

trustme makes a throw-away certificate authority and a server certificate for 127.0.0.1, the
same way the TLS tests do; nothing is written outside the bench's temporary workdir.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Certs:
    """PEM files: the CA the clients trust, and the server's certificate chain and key."""

    ca: Path
    cert: Path
    key: Path


def paths(directory: Path) -> Certs:
    """Where `make` writes the files (known before they exist, for the targets' commands)."""
    return Certs(directory / "ca.pem", directory / "server.pem", directory / "server.key")


def available() -> str | None:
    """None when certificates can be made, else why not (for a skipped target)."""
    import importlib.util

    if importlib.util.find_spec("trustme") is None:
        return "trustme not installed (pip install -e '.[bench]')"
    return None


def make(directory: Path) -> Certs:
    """A fresh CA and a certificate for 127.0.0.1 signed by it, written into `directory`."""
    import trustme

    directory.mkdir(parents=True, exist_ok=True)
    files = paths(directory)
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(files.ca))
    server.cert_chain_pems[0].write_to_path(str(files.cert))
    for extra in server.cert_chain_pems[1:]:
        extra.write_to_path(str(files.cert), append=True)
    server.private_key_pem.write_to_path(str(files.key))
    return files
