"""Server processes for the bench: start pinned to a core, wait until ready, measure, stop.

Every process is started in a session of its own so that it (and any child it forks) can be
stopped by its own process-group id, never by a name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: Core of the load generator and core of the servers (target, stand-in upstream).
LOAD_CPU = 0
SERVER_CPU = 1

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def pinning_works() -> bool:
    """True when the machine has two cores and `taskset` can use both."""
    if (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        return False
    for cpu in (LOAD_CPU, SERVER_CPU):
        done = subprocess.run(["taskset", "-c", str(cpu), "true"], check=False)
        if done.returncode != 0:
            return False
    return True


def pinned(cpu: int, argv: Sequence[str], pin: bool) -> list[str]:
    """`argv` run on core `cpu` (taskset exec's it, so the PID stays the command's own)."""
    return ["taskset", "-c", str(cpu), *argv] if pin else list(argv)


@dataclass
class Server:
    """One running server process and where its output goes."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    started_at: float

    @property
    def pid(self) -> int:
        """The server's process id (also its process-group id)."""
        return self.proc.pid

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc.poll() is None

    def log_tail(self, lines: int = 5) -> str:
        """The last lines the server printed, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the server's process group, then SIGKILL what is left after `timeout`."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait(5)
        with contextlib.suppress(ProcessLookupError):  # children that outlived the leader
            os.killpg(self.pid, signal.SIGKILL)


def start(
    name: str,
    argv: Sequence[str],
    log_dir: Path,
    *,
    pin: bool,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Server:
    """Start `argv` on the server core, output to `<log_dir>/<name>.log`."""
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            pinned(SERVER_CPU, argv, pin),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
    return Server(name, proc, log_path, time.perf_counter())


def port_open(port: int) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:`port`."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def http_status(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """Status and body of one request; (0, reason) when the connection fails."""
    status, content, _ = http_response(url, method=method, body=body, headers=headers)
    return status, content


def http_response(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes, dict[str, str]]:
    """Status, body and headers (names lower-cased) of one request; (0, reason, {}) when the
    connection fails."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            got = {k.lower(): v for k, v in response.headers.items()}
            return response.status, response.read(), got
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), {k.lower(): v for k, v in exc.headers.items()}
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc).encode(), {}


def wait_ready(server: Server, port: int, health_url: str | None, timeout: float) -> float:
    """Seconds from start until the port accepts (and `health_url` answers 200).

    Raises `RuntimeError` with the server's last output if it exits or times out.
    """
    deadline = server.started_at + timeout
    while time.perf_counter() < deadline:
        if not server.alive():
            raise RuntimeError(f"exited with {server.proc.returncode}: {server.log_tail()}")
        if port_open(port) and (health_url is None or http_status(health_url)[0] == 200):
            return time.perf_counter() - server.started_at
        time.sleep(0.005)
    raise RuntimeError(f"not ready after {timeout:.0f} s: {server.log_tail()}")


def tree_pids(pid: int) -> list[int]:
    """`pid` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def tree_rss_kb(pid: int) -> int:
    """Resident memory of `pid` and its descendants, in kB."""
    total = 0
    for p in tree_pids(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by `pid` and its descendants."""
    ticks = 0
    for p in tree_pids(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / _CLK_TCK


def machine_busy(seconds: float) -> float:
    """Share of both cores (0-1) that was busy, steal included, over the next `seconds`."""

    def counters() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        idle = fields[3] + fields[4]
        return sum(fields) - idle, sum(fields)

    busy0, total0 = counters()
    time.sleep(seconds)
    busy1, total1 = counters()
    return (busy1 - busy0) / max(1, total1 - total0)


def core_seconds(cpu: int) -> tuple[float, float]:
    """Busy time (user, nice, system, irq, softirq) and steal time of core `cpu` so far.

    Steal is time the hypervisor gave the core to another VM; busy time not spent by our
    own processes is another process of this machine (a test suite, a build) on that core.
    """
    for line in Path("/proc/stat").read_text().splitlines():
        fields = line.split()
        if fields[0] == f"cpu{cpu}":
            ticks = [int(x) for x in fields[1:9]]
            busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]
            return busy / _CLK_TCK, ticks[7] / _CLK_TCK
    return 0.0, 0.0
