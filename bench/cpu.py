"""CPU accounting around a measured run: who used the two cores, and who else did.

The machine is shared: a test suite of another session, or the hypervisor (steal), can take
a core away in the middle of a round. Comparing each core's busy time (/proc/stat) with the
CPU time of our own processes tells how much of it went to others, so a low number can be
told apart from a slow target.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, fields

import procs

#: A round during which other processes took more than this (% of one core, on either core,
#: steal included) is done again.
DISTURBED_PCT = 25.0


@dataclass(frozen=True)
class Usage:
    """CPU seconds (or, as a difference, spent during a run)."""

    target: float = 0.0  # the target's process tree
    upstream: float = 0.0  # the stand-in, for targets that forward to it
    ours_load: float = 0.0  # this process and its reaped children (wrk) on the load core
    busy_load: float = 0.0  # load core busy time
    busy_server: float = 0.0  # server core busy time
    steal_server: float = 0.0  # server core time taken by the hypervisor
    wall: float = 0.0

    def __sub__(self, other: Usage) -> Usage:
        """Field-wise difference."""
        return Usage(*(getattr(self, f.name) - getattr(other, f.name) for f in fields(self)))

    def __add__(self, other: Usage) -> Usage:
        """Field-wise sum."""
        return Usage(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def percent(self) -> dict[str, float]:
        """Shares of the wall time, in % of one core."""
        if not self.wall:
            return {}

        def pct(x: float) -> float:
            return round(max(0.0, 100 * x / self.wall), 1)

        return {
            "target": pct(self.target),
            "upstream": pct(self.upstream),
            "other_load_core": pct(self.busy_load - self.ours_load),
            "other_server_core": pct(self.busy_server - self.target - self.upstream),
            "steal_server_core": pct(self.steal_server),
        }


def others(used: Usage) -> float:
    """The larger share of a core (%) that other processes or the hypervisor took."""
    pct = used.percent()
    server = pct.get("other_server_core", 0.0) + pct.get("steal_server_core", 0.0)
    return max(pct.get("other_load_core", 0.0), server)


def snapshot(target_pid: int, upstream_pid: int | None) -> Usage:
    """The counters now."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_load, _ = procs.core_seconds(procs.LOAD_CPU)
    busy_server, steal = procs.core_seconds(procs.SERVER_CPU)
    return Usage(
        target=procs.tree_cpu_seconds(target_pid),
        upstream=procs.tree_cpu_seconds(upstream_pid) if upstream_pid else 0.0,
        ours_load=me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
        busy_load=busy_load,
        busy_server=busy_server,
        steal_server=steal,
        wall=time.perf_counter(),
    )
