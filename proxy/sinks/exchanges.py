"""The last N violating exchanges, redacted, for the violations page.

Each kept exchange holds its summary (the report), and the request and response as the
gateway saw them: headers redacted by the same `Redactor` that redacts cassettes, bodies cut
(not dropped) at 64 KiB. Clean exchanges are only counted. The store is a `deque` with a
`maxlen`, so memory stays flat whatever the traffic; live subscribers (the SSE stream) get
each new summary through a bounded queue, and one that falls behind is dropped, not grown.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from collections import deque
from dataclasses import dataclass
from typing import Any, Final

import orjson
from aiohttp import web

from proxy.exchange import Exchange
from proxy.metrics import operation_label
from proxy.redact import Redactor
from proxy.report import ExchangeReport, safe_path

#: Each body is cut to this many bytes (the cut is flagged, the rest is not kept).
BODY_LIMIT: Final = 64 * 1024
#: Summaries one live subscriber may have waiting; past this it is dropped (it reconnects).
QUEUE_SIZE: Final = 256
# A decompressed body is read to one byte past the limit: enough to know it was cut.
_DECODERS: Final = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": 0}


@dataclass(slots=True, frozen=True)
class Message:
    """A request's or response's headers (redacted) and body (decoded, cut at the limit)."""

    headers: list[tuple[str, str]]
    body: bytes
    size: int | None  # the body's full size; None when it could not be known
    truncated: bool

    def to_json(self) -> dict[str, Any]:
        """Headers as pairs; the body as text, and as data too when it is whole JSON."""
        out: dict[str, Any] = {
            "headers": [list(pair) for pair in self.headers],
            "body": self.body.decode("utf-8", "replace"),
            "size": self.size,
            "truncated": self.truncated,
        }
        if self.body and not self.truncated:
            with contextlib.suppress(orjson.JSONDecodeError):
                out["json"] = orjson.loads(self.body)
        return out


@dataclass(slots=True, frozen=True)
class Kept:
    """One violating exchange as kept: its id, its report, and what was sent both ways."""

    id: str
    report: ExchangeReport
    target: str  # the request's path and query, secret query parameters redacted
    request: Message | None
    response: Message | None

    def summary(self) -> dict[str, Any]:
        """What the list, and each live event, carry about the exchange."""
        report = self.report
        return {
            "id": self.id,
            "request_id": report.request_id,
            "time": report.time,
            "mode": report.mode,
            "method": report.method,
            "path": safe_path(report.path),
            "status": report.status,
            "source": report.source,
            "operation": operation_label(report.operation_id),
            "violations": list(report.violations),
        }

    def detail(self) -> dict[str, Any]:
        """The summary, and the request and response (what the detail view shows)."""
        out = self.summary()
        request = self.request.to_json() if self.request is not None else None
        if request is not None:
            request.update(method=self.report.method, target=self.target)
        response = self.response.to_json() if self.response is not None else None
        if response is not None:
            response["status"] = self.report.status
        out.update(request=request, response=response)
        return out


class Subscriber:
    """One live stream's queue of summaries; `None` in it means the stream must end."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE_SIZE)

    def offer(self, summary: dict[str, Any]) -> bool:
        """Queue a summary; False (and the stream told to end) when the client fell behind."""
        try:
            self.queue.put_nowait(summary)
        except asyncio.QueueFull:
            self.end()
            return False
        return True

    def end(self) -> None:
        """Drop what is waiting and tell the stream to end (the page reconnects and reloads)."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class KeptExchanges:
    """The sink: keeps violating exchanges (at most `size`), counts clean ones, feeds streams."""

    takes_clean = True  # every exchange, clean ones too

    def __init__(self, redactor: Redactor, size: int = 1000) -> None:
        if size < 0:
            raise ValueError(f"keep-exchanges must not be negative, got {size}")
        self.redactor = redactor
        self.size = size
        # Newest on the left; a full deque drops the oldest, on the right.
        self._kept: deque[Kept] = deque(maxlen=size)
        self._subscribers: set[Subscriber] = set()
        # Ids stay unique across restarts (the page merges what it had with what it reloads).
        self._prefix = f"{int(time.time() * 1000):x}-"
        self._next = 0
        self.clean = 0
        self.violating = 0

    def emit(
        self, report: ExchangeReport, response: web.StreamResponse, ex: Exchange | None
    ) -> None:
        """Count a clean exchange; keep a violating one and offer it to every live stream."""
        if not report.violations:
            self.clean += 1
            return
        self.violating += 1
        self._next += 1
        kept = self._keep(f"{self._prefix}{self._next}", report, response, ex)
        if self.size:
            self._kept.appendleft(kept)
        if self._subscribers:
            summary = kept.summary()
            for subscriber in tuple(self._subscribers):
                if not subscriber.offer(summary):
                    self._subscribers.discard(subscriber)

    def _keep(
        self, id_: str, report: ExchangeReport, response: web.StreamResponse, ex: Exchange | None
    ) -> Kept:
        redactor = self.redactor
        if ex is None:  # a report built without the pipeline (the sinks' own tests)
            return Kept(id_, report, safe_path(report.path), None, None)
        request = Message(
            redactor.headers(ex.request.headers.items()), *_cut(ex.body, len(ex.body))
        )
        headers = redactor.headers(response.headers.items())
        body = response.body if isinstance(response, web.Response) else None
        if isinstance(body, bytes | bytearray):
            answer = Message(headers, *_decoded(bytes(body), response.headers))
        else:  # a streamed or payload body: its bytes are not at hand
            answer = Message(headers, b"", None, False)
        return Kept(id_, report, redactor.uri(ex.raw_path_qs), request, answer)

    def list(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Summaries of the kept exchanges, newest first."""
        kept = self._kept if limit is None else list(self._kept)[:limit]
        return [item.summary() for item in kept]

    def get(self, id_: str) -> Kept | None:
        """The kept exchange with this id, if it is still kept."""
        return next((item for item in self._kept if item.id == id_), None)

    def counts(self) -> dict[str, int]:
        """Exchanges seen since start: clean, violating, and how many are kept now."""
        return {"clean": self.clean, "violating": self.violating, "kept": len(self._kept)}

    def subscribe(self) -> Subscriber:
        """A new live subscriber (the caller must `unsubscribe` it when its stream ends)."""
        subscriber = Subscriber()
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Forget a subscriber (idempotent)."""
        self._subscribers.discard(subscriber)

    def end_streams(self) -> None:
        """End every live stream (on shutdown: a graceful stop must not wait on them)."""
        for subscriber in self._subscribers:
            subscriber.end()
        self._subscribers.clear()


def _cut(body: bytes, size: int | None) -> tuple[bytes, int | None, bool]:
    return body[:BODY_LIMIT], size, len(body) > BODY_LIMIT


def _decoded(body: bytes, headers: Any) -> tuple[bytes, int | None, bool]:
    """The body as a person reads it: a gzip or deflate body is decompressed (never past
    the limit), anything else is kept as sent."""
    coding = str(headers.get("Content-Encoding", "")).strip().lower()
    wbits = _DECODERS.get(coding)
    if wbits is None or not body:
        return _cut(body, len(body))
    try:
        decoder = zlib.decompressobj(wbits)
        plain = decoder.decompress(body, BODY_LIMIT + 1)
    except zlib.error:
        return _cut(body, len(body))  # not what it claims: shown as sent
    return (
        plain[:BODY_LIMIT],
        None if len(plain) > BODY_LIMIT else len(plain),
        (len(plain) > BODY_LIMIT),
    )
