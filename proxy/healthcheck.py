"""`python -m proxy.healthcheck`: the Docker image's HEALTHCHECK, on whatever port it serves.

Exit 0 when `/__proxy/health` answers 2xx, 1 otherwise (Docker's healthy/unhealthy). The
port is found as the gateway itself found it: `--port` on the command line of the container's
main process (PID 1, read from `/proc/1/cmdline`) beats `PORTAL_PROXY_PORT`, default 3001.
A hard-coded 3001 made every container started with another port unhealthy.
"""

from __future__ import annotations

import itertools
import os
import sys
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

DEFAULT_PORT = "3001"


def port_from(argv: Sequence[str], environ: Mapping[str, str]) -> str:
    """The port the gateway listens on, from its argv (`--port N`, `--port=N`) or env."""
    for index, arg in enumerate(argv):
        if arg == "--port" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--port="):
            return arg.partition("=")[2]
    return environ.get("PORTAL_PROXY_PORT") or DEFAULT_PORT


def main_process_argv(cmdline: Path = Path("/proc/1/cmdline")) -> list[str]:
    """The container's main process's arguments, if it is the gateway (`portal-proxy ...` or
    `python -m proxy ...`); empty otherwise, or where /proc cannot be read."""
    try:
        raw = cmdline.read_bytes()
    except OSError:
        return []
    argv = [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]
    module = any(a == "-m" and b == "proxy" for a, b in itertools.pairwise(argv))
    script = any(Path(arg).name == "portal-proxy" for arg in argv[:2])
    return argv if module or script else []


def check(port: str, timeout: float = 2.0) -> bool:
    """True when the gateway on 127.0.0.1:`port` says it is alive."""
    url = f"http://127.0.0.1:{port}/__proxy/health"
    try:
        # urlopen raises on a refused connection, a timeout and any non-2xx answer.
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= int(response.status) < 300
    except (OSError, ValueError):
        return False


def main() -> int:
    """Check the gateway of this container; print why when it is unhealthy."""
    port = port_from(main_process_argv(), os.environ)
    if check(port):
        return 0
    print(f"portal-proxy healthcheck: no healthy answer on port {port}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
