"""Log lines written in batches: what the access log does in the `portal-proxy` process.

The standard `logging` path costs about 12 us a line (a LogRecord, the caller's frame, a
formatter, a lock, a write and a flush), a sixth of a mock request. Here a line is one
f-string appended to a list, and the list is written to stderr in one call at most
`interval` seconds later (and when the gateway stops), so a line still shows within a tenth
of a second. The lines look exactly like the ones `proxy.report.configure_logging` writes.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime
from typing import Any

from proxy.jsonout import dumps as dumps_json
from proxy.options import LogFormat

#: Longest a line waits before it is written.
FLUSH_INTERVAL = 0.1


class LineWriter:
    """Buffers log lines of one logger and writes them to the current stderr in batches."""

    def __init__(self, logger: str, log_format: LogFormat, interval: float = FLUSH_INTERVAL):
        self.logger = logger
        self.log_format = log_format
        self.interval = interval
        self._lines: list[str] = []
        self._flush: asyncio.TimerHandle | None = None
        self._second = -1
        self._stamp = ""

    def info(self, message: str, fields: dict[str, Any]) -> None:
        """Queue one INFO line: `message` as text, or JSON with the `fields`."""
        now = time.time()
        if self.log_format == "text":
            line = f"{self._asctime(now)} INFO {self.logger}: {message}\n"
        else:
            stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds")
            head = {"time": stamp.replace("+00:00", "Z"), "level": "INFO"}
            record = {**head, "logger": self.logger, "message": message, **fields}
            line = dumps_json(record).decode() + "\n"
        self._lines.append(line)
        if self._flush is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a line logged at start-up): write it now
                self.flush()
                return
            self._flush = loop.call_later(self.interval, self.flush)

    def flush(self) -> None:
        """Write every queued line now."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        if self._lines:
            text, self._lines = "".join(self._lines), []
            stream = sys.stderr  # whatever it is now (tests and daemons swap it)
            stream.write(text)
            stream.flush()

    def _asctime(self, now: float) -> str:
        # logging.Formatter's default `asctime`: local time, then milliseconds after a comma.
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return f"{self._stamp},{int((now - second) * 1000):03d}"
