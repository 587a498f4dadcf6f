"""Is the upstream answering? What `GET /__proxy/ready` tells a load balancer.

Liveness (`/__proxy/health`) says the process serves; readiness says it is worth sending
traffic to: not while the upstream fails. Two witnesses feed one verdict, the latest wins:
every forwarded request (`note_success` / `note_failure`) and a cheap probe, which notices an
upstream going down or coming back while no traffic flows (a replica taken out of rotation
gets none, so without the probe it could never come back).

The probe runs only when traffic has said nothing for `interval` seconds, and every
`interval` while failing: a busy gateway sends no probes at all. With the default 5 s and a
probe timeout of 2 s, a dead upstream shows within 7 s, one that is back within 7 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("portal_proxy.readiness")

Probe = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ReadyState:
    """The verdict: `ready`, else `reason` (the last failure) and `since` (unix time)."""

    ready: bool
    reason: str | None = None
    since: float | None = None
    checked: float | None = None  # unix time of the last probe or request outcome


class Readiness:
    """Tracks whether the upstream answers; owns the task that probes it every `interval`."""

    def __init__(self, probe: Probe | None, interval: float = 5.0) -> None:
        """`probe` raises when the upstream gives no answer; None: nothing to watch."""
        if not interval > 0:
            raise ValueError(f"the readiness interval must be positive, got {interval!r}")
        self._probe = probe
        self.interval = interval
        self._failure: str | None = None
        self._since: float | None = None
        self._checked: float | None = None
        self._heard = time.monotonic()  # when an outcome last came in (start counts as one)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start probing in the background (the first probe after `interval` of silence)."""
        self._heard = time.monotonic()
        if self._probe is not None and self._task is None:
            self._task = asyncio.create_task(self._run(), name="portal-proxy readiness probe")

    async def close(self) -> None:
        """Stop probing."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def note_success(self) -> None:
        """The upstream answered (any HTTP answer)."""
        self._heard, self._checked = time.monotonic(), time.time()
        if self._failure is not None:
            log.info("upstream answers again after failing since %.0f", self._since or 0)
            self._failure = self._since = None

    def note_failure(self, reason: str) -> None:
        """The upstream gave no answer; `reason` says why (it names the upstream)."""
        self._heard, self._checked = time.monotonic(), time.time()
        if self._failure is None:
            self._since = self._checked
        self._failure = reason

    def state(self) -> ReadyState:
        """The current verdict."""
        if self._failure is None:
            return ReadyState(True, checked=self._checked)
        return ReadyState(False, self._failure, self._since, self._checked)

    async def _run(self) -> None:
        assert self._probe is not None
        while True:
            silent = time.monotonic() - self._heard
            if self._failure is None and silent < self.interval:
                await asyncio.sleep(self.interval - silent)  # traffic spoke recently enough
                continue
            try:
                await self._probe()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure to answer is the verdict, not a crash
                self.note_failure(str(exc) or type(exc).__name__)
            else:
                self.note_success()
            await asyncio.sleep(self.interval)
