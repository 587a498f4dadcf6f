"""Cassette files: VCR.py's version-1 YAML, loaded fast and appended to safely.

The files we write are plain VCR.py cassettes laid out so that recording can append:
`version: 1` first, `interactions:` last, and each interaction one line, a YAML flow mapping
written as JSON (JSON is YAML flow syntax)::

    # portal-proxy cassette (...)
    version: 1
    interactions:
    - {"request": {...}, "response": {...}}
    - {"request": {...}, "response": {...}}

Appending never rewrites the file, and a kill at any moment leaves a file VCR.py loads. One
`write` is not enough for that: Linux stops a write to a regular file between pages when the
process gets SIGKILL, so a large item can be cut anywhere. So new items are written as
comment lines (`# {...}`) and then committed one by one by turning their `#` into `-`, a
one-byte write that cannot be cut. A cut comment is still a comment; lines are ASCII (other
characters are `\\u`/`\\U` escapes) so a cut cannot split a UTF-8 sequence either.

Loading parses the items with orjson, a chunk of lines per call; anything else VCR.py can
write goes through libyaml (imported only then).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import gc
import logging
import os
import re
import tempfile
import uuid
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import orjson

from proxy.cassette import Headers, Interaction, RecordedRequest, RecordedResponse
from proxy.memo import Memo

log = logging.getLogger(__name__)

HEADER = (
    b"# portal-proxy cassette (VCR.py format, version 1): one interaction per line, each a YAML"
    b" flow mapping (JSON), so that recording can append; '# {' lines are unfinished appends.\n"
    b"version: 1\n"
    b"interactions:\n"
)

#: Bodies that would inflate past this many bytes are kept compressed (as !!binary).
MAX_DECODED_BODY = 64 * 1024 * 1024

# Bytes of a file in our layout parsed per orjson call (the chunk ends at the next newline).
# A chunk's parsed dicts are freed before the next chunk is parsed, which reuses their
# memory; parsed all at once, a 100,000-item file's dicts (several times the file's size)
# would stay resident, pinned by the few strings the interactions keep from them.
_CHUNK = 256 * 1024

# Values remembered while loading one file, to share equal ones (see `_Shared`): emptied
# when full, so a file of all-different values does not keep all of them alive.
_SHARED_MAX = 4096

_T = TypeVar("_T")

# What orjson writes raw but we escape: DEL, which YAML refuses, and everything non-ASCII
# (see the module docstring; YAML would also refuse the C1 controls and fold \x85, \u2028
# and \u2029 as line breaks). Only inside JSON strings, where `\uXXXX` means the same to
# JSON and YAML; YAML needs `\UXXXXXXXX` beyond the BMP, which orjson cannot read, so those
# rare items load through YAML.
_NOT_ASCII = re.compile(rb"[\x7f-\xff]+")

# orjson cannot write a YAML tag, so a binary body is written as this (random, so no real
# value can equal it) string and the quoted string then swapped for `!!binary "..."`.
_BINARY_MARK = f"portal-proxy-binary-{uuid.uuid4().hex}"

_NAME_OK = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_NAME_MAX = 200


class CassetteError(ValueError):
    """A cassette file that cannot be loaded, and why."""


class CassetteLockedError(RuntimeError):
    """Another process is recording to the same cassette."""


def validate_cassette_name(name: str) -> str:
    """Return `name` if it is a plain cassette name, else raise `ValueError` saying why."""
    problem = None
    if not name:
        problem = "it is empty"
    elif "\0" in name:
        problem = "it contains a NUL character"
    elif "/" in name or "\\" in name:
        problem = "it contains a path separator"
    elif name.startswith("."):
        problem = "it starts with '.'"
    elif len(name) > _NAME_MAX:
        problem = f"it is longer than {_NAME_MAX} characters"
    elif not _NAME_OK.fullmatch(name):
        problem = "it contains characters other than letters, digits, '.', '-' and '_'"
    if problem:
        raise ValueError(
            f"invalid cassette name {name!r}: {problem}; use a plain name such as "
            "'client_types' or 'portal-v2.smoke' (letters, digits, '.', '-', '_', "
            "not starting with '.'), which becomes <cassette-dir>/<name>.yaml"
        )
    return name


def cassette_path(directory: Path, name: str) -> Path:
    """The file of the cassette `name` in `directory`, after validating the name."""
    return directory / f"{validate_cassette_name(name)}.yaml"


def decode_for_cassette(headers: Iterable[tuple[str, str]], body: bytes) -> tuple[Headers, bytes]:
    """Decompress a gzip or deflate body for the cassette, as VCR.py's
    `decode_compressed_response` does: drop `Content-Encoding`, fix `Content-Length`.

    Anything else (other or stacked encodings, a corrupt stream, more than
    `MAX_DECODED_BODY` bytes once inflated) is returned unchanged.
    """
    headers = tuple(headers)
    encodings = [v.strip().lower() for n, v in headers if n.lower() == "content-encoding"]
    if len(encodings) != 1 or encodings[0] not in ("gzip", "x-gzip", "deflate"):
        return headers, body
    # deflate is zlib-wrapped per RFC 9110, but some servers send it raw.
    attempts: tuple[int, ...] = (zlib.MAX_WBITS | 16,)
    if encodings[0] == "deflate":
        attempts = (zlib.MAX_WBITS, -zlib.MAX_WBITS)
    decoded = next((d for bits in attempts if (d := _inflate(body, bits)) is not None), None)
    if decoded is None:
        return headers, body
    fixed = tuple(
        (n, str(len(decoded)) if n.lower() == "content-length" else v)
        for n, v in headers
        if n.lower() != "content-encoding"
    )
    return fixed, decoded


def _inflate(data: bytes, wbits: int) -> bytes | None:
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(data, MAX_DECODED_BODY + 1)
    except zlib.error:
        return None
    if len(out) > MAX_DECODED_BODY or not inflater.eof or inflater.unused_data:
        return None  # a zip bomb, a truncated stream, trailing data: keep what was sent
    return out


def _text_or_bytes(data: bytes) -> str | bytes:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def _to_bytes(value: object, what: str) -> bytes:
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes):
        return value
    raise CassetteError(f"{what} is not text or !!binary but {type(value).__name__}")


def _headers_to_dict(headers: Headers) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    spelling: dict[str, str] = {}
    for name, value in headers:
        grouped.setdefault(spelling.setdefault(name.lower(), name), []).append(value)
    return grouped


class _Shared:
    """Equal values of the interactions of one file, made one object.

    The interactions of a cassette repeat the same methods, reasons, header names and
    values, and often the same bodies: 100,000 copies of each would be most of the memory a
    loaded cassette takes.
    """

    __slots__ = ("_bodies", "_headers", "_values")

    def __init__(self) -> None:
        self._values: Memo[Any, Any] = Memo(_SHARED_MAX)
        self._bodies: Memo[str, bytes] = Memo(_SHARED_MAX)
        self._headers: Memo[bytes, Headers] = Memo(_SHARED_MAX)

    def value(self, value: _T) -> _T:
        """`value` (a string, or a tuple of strings), or an equal one seen before."""
        known: _T | None = self._values.get(value)
        return known if known is not None else self._values.keep(value, value)

    def body(self, value: object, what: str) -> bytes:
        """A body as bytes: VCR.py stores text (UTF-8) or !!binary (bytes)."""
        if not isinstance(value, str):
            return _to_bytes(value, what)
        known = self._bodies.get(value)
        return known if known is not None else self._bodies.keep(value, value.encode("utf-8"))

    def headers(self, value: object, what: str, *, json: bool = False) -> Headers:
        """Headers from VCR.py's mapping of names to lists of values.

        `json`: the mapping is one orjson parsed. Its JSON text then stands for it (equal
        texts, equal values), and finding that text is faster than building the headers.
        Not for what YAML parsed: orjson writes a YAML NaN, a timestamp or a tuple like
        other values, which `str` would not.
        """
        if not (json and value and isinstance(value, dict)):
            return self._headers_of(value, what)
        text = orjson.dumps(value)
        known = self._headers.get(text)
        if known is None:
            # An exact-size copy of the key: orjson's result keeps its 4 KB buffer.
            known = self._headers.keep(bytes(memoryview(text)), self._headers_of(value, what))
        return known

    def _headers_of(self, value: object, what: str) -> Headers:
        if not value:
            return ()
        if not isinstance(value, dict):
            raise CassetteError(f"{what} is not a mapping of names to lists of values")
        pairs: list[tuple[str, str]] = []
        # Plain loops, and str() only when needed: this runs for every interaction of a
        # 100,000-interaction cassette, and hand-written YAML may hold numbers.
        for name, values in value.items():
            key = name if isinstance(name, str) else str(name)
            if isinstance(values, list):
                for v in values:
                    pairs.append((key, v if isinstance(v, str) else str(v)))
            else:  # VCR.py reads a single value too
                pairs.append((key, str(values)))
        headers = tuple(pairs)
        known = self._values.get(headers)
        if known is not None:
            return known  # type: ignore[no-any-return]
        # New as a whole: share its pairs, some of which (a Date) differ from one to the next.
        return self.value(tuple(map(self.value, headers)))


def interaction_to_dict(interaction: Interaction) -> dict[str, Any]:
    """An interaction as VCR.py stores it (bodies as text when they are UTF-8, else bytes)."""
    request, response = interaction.request, interaction.response
    return {
        "request": {
            "body": _text_or_bytes(request.body) if request.body else None,
            "headers": _headers_to_dict(request.headers),
            "method": request.method,
            "uri": request.uri,
        },
        "response": {
            "body": {"string": _text_or_bytes(response.body)},
            "headers": _headers_to_dict(response.headers),
            "status": {"code": response.status, "message": response.reason},
        },
    }


def interaction_from_dict(item: object) -> Interaction:
    """An interaction from VCR.py's dict form; `CassetteError` says what is missing."""
    return _interaction(item, _Shared(), json=False)


def _interaction(item: object, shared: _Shared, *, json: bool) -> Interaction:
    # Assume the shape and explain only when it is wrong: this runs for each of 100,000
    # interactions, and a check per field would cost a fifth of the load time.
    data: Any = item
    try:
        request, response = data["request"], data["response"]
        status = response["status"]
        method, uri, code = request["method"], request["uri"], status["code"]
        reason, body = status.get("message"), response.get("body")
        valid = isinstance(method, str) and isinstance(uri, str) and isinstance(code, int)
    except (KeyError, TypeError, AttributeError):
        valid = False
    if not valid:
        raise CassetteError(_what_is_missing(item))
    # Positional arguments: keywords make building a frozen dataclass about 1.5 times slower.
    return Interaction(
        RecordedRequest(
            shared.value(method),
            uri,
            shared.headers(request.get("headers"), "request headers", json=json),
            shared.body(request.get("body"), "request body"),
        ),
        RecordedResponse(
            code,
            shared.value(reason if isinstance(reason, str) else str(reason or "")),
            shared.headers(response.get("headers"), "response headers", json=json),
            shared.body(body.get("string") if isinstance(body, dict) else body, "response body"),
        ),
    )


def _what_is_missing(item: object) -> str:
    if not isinstance(item, dict):
        return "is not a mapping with 'request' and 'response'"
    request, response = item.get("request"), item.get("response")
    if not isinstance(request, dict):
        return "has no 'request' mapping"
    if not isinstance(response, dict):
        return "has no 'response' mapping"
    if not isinstance(request.get("method"), str) or not isinstance(request.get("uri"), str):
        return "has a request without 'method' or 'uri'"
    return "has a response without 'status: {code: ...}'"


def encode_interaction(interaction: Interaction) -> bytes:
    """One interaction as a line of our appendable layout: `- {...}`, ASCII, and a newline."""
    item = interaction_to_dict(interaction)
    binary: list[tuple[bytes, bytes]] = []
    for holder, key in ((item["request"], "body"), (item["response"]["body"], "string")):
        if isinstance(holder[key], bytes):
            mark = f"{_BINARY_MARK}-{len(binary)}"
            binary.append((orjson.dumps(mark), base64.b64encode(holder[key])))
            holder[key] = mark
    text = orjson.dumps(item)
    for quoted_mark, encoded in binary:
        text = text.replace(quoted_mark, b'!!binary "' + encoded + b'"')
    if _NOT_ASCII.search(text):
        text = _NOT_ASCII.sub(_escape, text)
    return b"- " + text + b"\n"


def _escape(match: re.Match[bytes]) -> bytes:
    return "".join(
        f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
        for code in map(ord, match.group().decode("utf-8"))
    ).encode("ascii")


def load_cassette(path: Path) -> list[Interaction]:
    """Load every interaction of a VCR.py cassette file.

    Files in our appendable layout take a fast path (one orjson call per chunk of items) and
    skip unfinished appends and a cut last line; any other VCR.py cassette is parsed as YAML.
    An empty file has no interactions. Problems raise `CassetteError` naming the file.
    """
    data = path.read_bytes()
    if not data.strip():  # VCR.py too treats an empty file as no cassette yet
        return []
    shared = _Shared()
    interactions: list[Interaction] = []
    with gc_paused():
        if data.startswith(HEADER):
            chunks = _item_chunks(path, data)
        else:
            chunks = iter([(_parse_yaml(path, data), False)])
        for items, json in chunks:
            try:
                for item in items:
                    interactions.append(_interaction(item, shared, json=json))
            except CassetteError as exc:
                raise CassetteError(f"{path}: interaction {len(interactions)} {exc}") from exc
    return interactions


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (loading and indexing cassettes).

    Parsing makes millions of small containers, none of them in a cycle; each batch of
    them would set off a garbage collection, which roughly doubles the load time.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _yaml_load(text: str) -> Any:
    """`text` parsed by libyaml's safe loader (PyYAML's own when built without libyaml).

    Raises `yaml.YAMLError`. PyYAML is imported here, not at start-up: cassettes we wrote
    need it only for the rare item orjson cannot read.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)


def _parse_yaml(path: Path, data: bytes) -> list[Any]:
    import yaml

    try:
        document = _yaml_load(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CassetteError(f"{path}: not a cassette: the file is not UTF-8 text") from exc
    except yaml.YAMLError as exc:
        raise CassetteError(f"{path}: not a cassette: invalid YAML: {exc}") from exc
    items = document.get("interactions") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise CassetteError(
            f"{path}: not a VCR.py cassette: expected a mapping with an 'interactions' list"
        )
    return items


def _item_chunks(path: Path, data: bytes) -> Iterator[tuple[list[Any], bool]]:
    """The committed items of a file in our layout, a chunk of lines at a time, each chunk
    with whether orjson parsed all of its items (YAML parses what orjson cannot read)."""
    start, size = len(HEADER), len(data)
    while start < size:
        end = data.find(b"\n", start + _CHUNK) + 1 or size  # after a newline, or the end
        yield _parse_chunk(path, data, start, end)
        start = end


def _parse_chunk(path: Path, data: bytes, start: int, end: int) -> tuple[list[Any], bool]:
    """The committed items of the whole lines `data[start:end]` (skipping comments, and a cut
    last line of the file)."""
    whole = data.startswith(b"- ", start) and data[end - 1] == ord("\n")
    if whole and data.find(b"\n#", start, end) < 0:
        # Only whole, committed items: parse them as one JSON array, "\n- " becoming
        # "\n,", then the first "-" "[" and the last newline "]". One orjson call per chunk
        # is several times faster than one per line.
        joined = bytearray(memoryview(data)[start:end]).replace(b"\n- ", b"\n,")
        joined[0], joined[-1] = ord("["), ord("]")
        with contextlib.suppress(orjson.JSONDecodeError):  # !!binary or \U: line by line
            items: list[Any] = orjson.loads(joined)
            return items, True
    lines = data[start:end].split(b"\n")
    last = len(lines) - 1  # after the chunk's final newline: empty, or the file's cut end
    items = []
    for i, line in enumerate(lines):
        if line.startswith(b"- "):
            item = _parse_item(line[2:])
            if item is not None:
                items.append(item)
                continue
        elif not line or line.startswith(b"#") or i == last:
            continue  # blank, a comment (an unfinished append), or the cut start of one
        if i == last:
            log.warning("%s: skipping a cut last interaction (interrupted write)", path)
            continue
        number = data.count(b"\n", 0, start) + 1 + i
        raise CassetteError(
            f"{path}: line {number} is not an interaction ('- ' and a JSON or YAML "
            "flow mapping) nor a comment"
        )
    return items, False


def _parse_item(text: bytes) -> dict[str, Any] | None:
    try:
        item = orjson.loads(text)
    except orjson.JSONDecodeError:
        import yaml

        try:  # what only YAML reads: !!binary, \U escapes
            item = _yaml_load(text.decode("utf-8"))
        except (UnicodeDecodeError, yaml.YAMLError):
            return None
    return item if isinstance(item, dict) else None


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
    ) -> None:
        """Use `CassetteWriter.open`."""
        self.path = path
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
        cls, path: Path, *, flush_interval: float = 0.2, max_buffer: int = 256 * 1024
    ) -> Self:
        """Lock `path` for recording; `CassetteLockedError` if another process holds it.

        Raises `CassetteError` for an existing file that is not a cassette (it is left as is).
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_fd = _lock(path)
        try:
            existing = await asyncio.to_thread(_existing_to_rewrite, path)
            return cls(path, lock_fd, existing, flush_interval, max_buffer)
        except BaseException:
            os.close(lock_fd)
            raise

    def append(self, interaction: Interaction) -> None:
        """Queue an interaction; it is on disk within `flush_interval` seconds."""
        if self._lock_fd is None:
            raise RuntimeError(f"cassette writer for {self.path} is closed")
        item = encode_interaction(interaction)
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
                out.writelines(encode_interaction(i) for i in existing)
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


def _lock(path: Path) -> int:
    # Hidden, beside the cassette: kept after close (deleting a lock file races with a
    # process that opened it), but out of sight of `ls` and of the `*.yaml` globs.
    lock_path = path.with_name(f".{path.name}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise CassetteLockedError(
            f"another portal-proxy is recording to {path} (it holds {lock_path}); "
            "stop it, or record to another cassette"
        ) from None
    return fd


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
