"""Every gateway failure in the log, without flooding it.

An upstream that is down fails every request: logging each would bury everything else (and
cost more than the 502 itself). So each cause (`unreachable`, `timeout`, `tls`, `malformed`)
gets at most one line per `window` seconds: the first failure is logged in full; those that
follow within the window are counted, and when the window ends one line says how many were
suppressed (and the last one's detail), which opens the next window. A flood of one cause is
thus one line a second; a lone failure is one line, at once.

Lines go to the `portal_proxy.upstream` logger, so they come out in the `--log-format`: in
`json`, `cause`, `upstream`, `detail` and `suppressed` are fields of their own.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from proxy.upstream_errors import UpstreamError

logger = logging.getLogger("portal_proxy.upstream")


@dataclass(slots=True)
class _Window:
    suppressed: int = 0
    last_detail: str = ""
    timer: asyncio.TimerHandle | None = None


class FailureLog:
    """Logs `UpstreamError`s for one upstream, rate limited per cause."""

    def __init__(self, upstream: str, window: float = 1.0) -> None:
        """`upstream` is the origin named in every line (never a path: it may hold secrets)."""
        self.upstream = upstream
        self.window = window
        self._windows: dict[str, _Window] = {}

    def note(self, error: UpstreamError) -> None:
        """Log a failure the client was answered with a problem for (or count it)."""
        window = self._windows.get(error.kind)
        if window is None:
            window = self._windows[error.kind] = _Window()
        if window.timer is not None:
            window.suppressed += 1
            window.last_detail = error.detail
            return
        self._emit(error.kind, f"upstream failure ({error.kind}): {error.detail}", error.detail, 0)
        self._open(error.kind, window)

    def close(self) -> None:
        """Log what is still suppressed and stop the timers (at shutdown)."""
        for cause, window in self._windows.items():
            if window.timer is not None:
                window.timer.cancel()
                window.timer = None
                self._summarise(cause, window)

    def _open(self, cause: str, window: _Window) -> None:
        loop = asyncio.get_running_loop()
        window.timer = loop.call_later(self.window, self._end, cause)

    def _end(self, cause: str) -> None:
        window = self._windows[cause]
        window.timer = None
        if self._summarise(cause, window):
            self._open(cause, window)  # the summary was this window's one line

    def _summarise(self, cause: str, window: _Window) -> bool:
        count, window.suppressed = window.suppressed, 0
        if not count:
            return False
        self._emit(
            cause,
            f"{count} more upstream failure{'s' if count != 1 else ''} ({cause}) suppressed "
            f"in the last {self.window:g} s; last: {window.last_detail}",
            window.last_detail,
            count,
        )
        return True

    def _emit(self, cause: str, message: str, detail: str, suppressed: int) -> None:
        logger.error(
            "%s",
            message,
            extra={
                "cause": cause,
                "upstream": self.upstream,
                "detail": detail,
                "suppressed": suppressed,
            },
        )
