"""Recording: appending interactions to a cassette file safely, one recorder at a time.

Appending never rewrites the file, and a kill at any moment leaves a file VCR.py loads. One
`write` is not enough for that: Linux stops a write to a regular file between pages when the
process gets SIGKILL, so a large item can be cut anywhere. So new items are written as
comment lines (`# {...}`) and then committed one by one by turning their `#` into `-`, a
one-byte write that cannot be cut. A cut comment is still a comment (the loader skips it).

Whatever is written is redacted first, including the interactions of a file written by
someone else that has to be rewritten into our layout: no secret reaches the disk through us.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from proxy.cassette import Interaction, RecordedRequest, RecordedResponse
from proxy.redact import Redactor
from proxy.storage.format import HEADER, encode_interaction
from proxy.storage.loading import load_cassette
from proxy.storage.lock import lock

log = logging.getLogger("proxy.storage")


def redacted(redactor: Redactor, interaction: Interaction) -> Interaction:
    """`interaction` with its secret headers and query parameters replaced (itself when it
    has none left: what the gateway records is redacted already)."""
    request, response = interaction.request, interaction.response
    uri = redactor.uri(request.uri)
    sent = tuple(redactor.headers(request.headers))
    got = tuple(redactor.headers(response.headers))
    if uri == request.uri and sent == request.headers and got == response.headers:
        return interaction
    return Interaction(
        RecordedRequest(request.method, uri, sent, request.body),
        RecordedResponse(response.status, response.reason, got, response.body),
    )


class CassetteWriter:
    """Appends interactions to one cassette file, holding a lock so only one process does.

    `append` only encodes and buffers; a background task writes the buffer every
    `flush_interval` seconds, or as soon as it grows past `max_buffer` bytes. A new file, or
    one not in our layout (written by VCR.py, or cut short by a crash), is written whole
    once, atomically (temporary file, fsync, rename), at the first flush; until then an
    existing file is untouched.
    """

    def __init__(
        self,
        path: Path,
        lock_fd: int,
        existing: list[Interaction] | None,
        flush_interval: float,
        max_buffer: int,
        redactor: Redactor,
    ) -> None:
        """Use `CassetteWriter.open`."""
        self.path = path
        self._redactor = redactor
        self._lock_fd: int | None = lock_fd
        self._fd: int | None = None
        self._size = 0  # where the next append goes; we hold the lock, so nobody else writes
        self._existing = existing  # not None: the file must be written whole first
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._max_buffer = max_buffer
        self._flushing = asyncio.Lock()
        self._wake = asyncio.Event()
        self._closing = False
        if existing is None:
            self._fd = os.open(path, os.O_WRONLY)
            self._size = os.fstat(self._fd).st_size
        self._task = asyncio.create_task(self._flush_every(flush_interval))

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        flush_interval: float = 0.2,
        max_buffer: int = 256 * 1024,
        redactor: Redactor | None = None,
    ) -> Self:
        """Lock `path` for recording; `CassetteLockedError` if another process holds it.

        Every interaction written, appended or rewritten from the existing file, first goes
        through `redactor` (default: the credentials every HTTP stack uses).
        Raises `CassetteError` for an existing file that is not a cassette (it is left as is).
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_fd = lock(path)
        try:
            existing = await asyncio.to_thread(_existing_to_rewrite, path)
            return cls(path, lock_fd, existing, flush_interval, max_buffer, redactor or Redactor())
        except BaseException:
            os.close(lock_fd)
            raise

    def append(self, interaction: Interaction) -> None:
        """Queue an interaction; it is on disk within `flush_interval` seconds."""
        if self._lock_fd is None:
            raise RuntimeError(f"cassette writer for {self.path} is closed")
        item = encode_interaction(redacted(self._redactor, interaction))
        self._buffer.append(item)
        self._buffered += len(item)
        if self._buffered > self._max_buffer:
            self._wake.set()

    async def flush(self) -> None:
        """Write everything appended so far."""
        async with self._flushing:
            if not self._buffer:
                return
            items, self._buffer, self._buffered = self._buffer, [], 0
            try:
                if self._existing is None:
                    self._append(items)
                else:
                    # Taken before the await: what is appended meanwhile waits its turn.
                    self._fd = await asyncio.to_thread(self._write_whole, self._existing, items)
                    self._size = os.fstat(self._fd).st_size
                    self._existing = None
            except BaseException:
                self._buffer[:0] = items  # kept for the next try (disk full...)
                self._buffered += sum(map(len, items))
                raise

    async def close(self) -> None:
        """Write what is buffered, then release the file and the lock."""
        if self._lock_fd is None:
            return
        # Not cancelled: a cancel could land while a thread is writing the file.
        self._closing = True
        self._wake.set()
        await asyncio.wait([self._task])
        try:
            if not self._task.cancelled():
                self._task.result()  # anything but OSError is a bug: surface it
            await self.flush()
            if self._fd is not None:
                await asyncio.to_thread(os.fsync, self._fd)
        finally:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _flush_every(self, interval: float) -> None:
        while not self._closing:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except OSError:
                # Keep recording: the buffer is kept and retried on the next tick.
                log.exception("%s: could not write recorded interactions", self.path)

    def _append(self, items: list[bytes]) -> None:
        """Write `items` as comments in one write, then commit each by turning "#" to "-".

        Offsets are explicit (pwrite), so a failed attempt is simply redone at the same place.
        """
        assert self._fd is not None
        data = memoryview(b"".join(b"#" + item[1:] for item in items))
        written = 0
        while written < len(data):
            written += os.pwrite(self._fd, data[written:], self._size + written)
        offset = self._size
        for item in items:
            os.pwrite(self._fd, b"-", offset)
            offset += len(item)
        self._size = offset

    def _write_whole(self, existing: Sequence[Interaction], items: list[bytes]) -> int:
        """Replace the file by `existing` + `items` in our layout; return a descriptor."""
        fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(HEADER)
                # Rewritten interactions were written by someone else: redact them too.
                redactor = self._redactor
                out.writelines(encode_interaction(redacted(redactor, i)) for i in existing)
                out.writelines(items)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp, 0o644)
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        return os.open(self.path, os.O_WRONLY)


def _existing_to_rewrite(path: Path) -> list[Interaction] | None:
    """None if we can append to `path` as it is; else what to write first (maybe nothing).

    Appendable: our header, and a final newline (a kill mid-append leaves a cut line).
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return []
    if size == 0:
        return []
    with path.open("rb") as f:
        head = f.read(len(HEADER))
        f.seek(size - 1)
        tail = f.read(1)
    if head == HEADER and tail == b"\n":
        return None
    return load_cassette(path)
