"""One recorder per cassette: an OS lock held outside the user's tree.

The lock file lives under the user's cache directory (`$XDG_CACHE_HOME/portal-proxy/locks`,
else `~/.cache/...`; the temporary directory if neither is writable), named by a hash of
the cassette's resolved path, so `git add tests/cassettes/` never picks it up. A lock on
the cassette file itself would not do: a rewrite replaces that file (rename), and a second
recorder would lock the new file while the first holds the old one.

`flock` is released by the kernel when the process dies, so a crash never leaves a stale
lock; the file stays (deleting it races with a process that just opened it).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from pathlib import Path


class CassetteLockedError(RuntimeError):
    """Another process is recording to the same cassette."""


def lock_dir() -> Path:
    """Where lock files go, created if missing."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    candidates = (
        Path(cache) / "portal-proxy" / "locks",
        Path(tempfile.gettempdir()) / f"portal-proxy-{os.getuid()}" / "locks",
    )
    for directory in candidates:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(directory, os.W_OK):
            return directory
    raise OSError(f"no writable directory for cassette locks (tried {cache} and the temp dir)")


def lock_path(cassette: Path) -> Path:
    """The lock file of `cassette` (whose folder must exist)."""
    resolved = str(cassette.parent.resolve() / cassette.name)
    digest = hashlib.sha256(resolved.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return lock_dir() / f"{digest}.lock"


def lock(cassette: Path) -> int:
    """Take `cassette`'s lock; return its descriptor (closing it releases the lock).

    Raises `CassetteLockedError` if another process holds it.
    """
    path = lock_path(cassette)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise CassetteLockedError(
            f"another portal-proxy is recording to {cassette} (it holds the lock {path}); "
            "stop it, or record to another cassette"
        ) from None
    # Say whose lock it is, for whoever finds the file.
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {cassette.parent.resolve() / cassette.name}\n".encode(), 0)
    return fd
