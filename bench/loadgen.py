"""The load generator: wrk with `post.lua` (installed from Debian if missing), else aiohttp.

Both print the same `RESULT k=v ...` line, parsed into a `Run`. The aiohttp fallback is a
closed loop like wrk (adapted from ../shared/peers/loadgen.py); one asyncio process tops out
at a few thousand requests/s, so against fast servers it measures itself: prefer wrk.

Run alone as the fallback: `python bench/loadgen.py URL -c 32 -d 10 [--products N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LUA = HERE / "post.lua"
BODY = '{"ID": 11}'
TOKEN = "bench-token"


@dataclass(frozen=True)
class Run:
    """One load-generator run: throughput, latency percentiles and every status counted."""

    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    status_201: int
    non2xx: int
    sock_errors: int
    codes: str

    @classmethod
    def parse(cls, line: str) -> Run:
        """A `Run` from a `RESULT k=v ...` line."""
        fields = dict(part.split("=", 1) for part in line.split()[1:])
        return cls(
            requests=int(fields["requests"]),
            duration_s=float(fields["duration_s"]),
            rps=float(fields["rps"]),
            p50_ms=float(fields["p50_ms"]),
            p90_ms=float(fields["p90_ms"]),
            p99_ms=float(fields["p99_ms"]),
            max_ms=float(fields["max_ms"]),
            status_201=int(fields["status_201"]),
            non2xx=int(fields["non2xx"]),
            sock_errors=int(fields["sock_errors"]),
            codes=fields["codes"],
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain data, for results.json."""
        return asdict(self)


#: Distinct bodies of a `vary_body` load (as post.lua's VARY_BODY).
VARIED = 4096


@dataclass(frozen=True)
class Load:
    """What to send: where, with which path prefix, and over how many product ids."""

    port: int
    path_prefix: str = "/portal-api"
    products: int = 1
    vary_body: bool = False  # a different body per request: {"ID": n}, 4,096 of them
    origin: str = ""  # non-empty: every request carries `Origin: <origin>` (a browser's CORS)


def ensure_wrk() -> str | None:
    """Path of wrk, installing the Debian package if missing; None if it cannot be had."""
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        try:
            subprocess.run(argv, check=True, env=env, timeout=300, capture_output=True)
        except (subprocess.SubprocessError, OSError):
            return None
    return shutil.which("wrk")


def wrk_version(wrk: str | None) -> str:
    """wrk's version line, or what replaces it."""
    if wrk is None:
        return "not available (aiohttp fallback used)"
    done = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).splitlines()[0].split(" Copyright")[0]


def command(
    wrk: str | None, load: Load, conc: int, seconds: int
) -> tuple[list[str], dict[str, str]]:
    """The load-generator command line and its environment for one run."""
    url = f"http://127.0.0.1:{load.port}"
    env = {"PATH_PREFIX": load.path_prefix, "PRODUCTS": str(load.products)}
    env["VARY_BODY"] = "1" if load.vary_body else ""
    env["ORIGIN"] = load.origin
    env |= {"BODY": BODY, "TOKEN": TOKEN}
    if wrk is not None:
        argv = [wrk, "-t1", f"-c{conc}", f"-d{seconds}s", "--timeout", "5s", "-s", str(LUA), url]
    else:
        argv = [sys.executable, str(Path(__file__)), url, "-c", str(conc), "-d", str(seconds)]
    return argv, env


def run_load(
    wrk: str | None, load: Load, conc: int, seconds: int, *, pin: bool, log_path: Path
) -> Run | None:
    """One bounded run on the load core; its output goes to `log_path`. None if no RESULT."""
    from procs import LOAD_CPU, pinned  # a sibling module: bench/ is on sys.path

    argv, env = command(wrk, load, conc, seconds)
    try:
        done = subprocess.run(
            pinned(LOAD_CPU, argv, pin),
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=False,
        )
        output = done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        output = f"timed out after {exc.timeout} s"
    log_path.write_text(output)
    line = next((x for x in output.splitlines() if x.startswith("RESULT ")), None)
    return Run.parse(line) if line else None


# --- the aiohttp fallback -----------------------------------------------------------------


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    k = min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))
    return values[k] * 1000


async def _fallback(
    url: str, conc: int, duration: float, prefix: str, products: int, vary: bool, origin: str
) -> str:
    import aiohttp

    headers = {"Content-Type": "application/json", "Authorization": TOKEN}
    if origin:
        headers["Origin"] = origin
    codes: Counter[int] = Counter()
    latencies: list[float] = []
    errors = 0
    timeout = aiohttp.ClientTimeout(total=5)
    connector = aiohttp.TCPConnector(limit=conc)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        deadline = start + duration

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                path = f"{prefix}/products/{random.randint(1, products)}/client_types"
                t0 = time.perf_counter()
                try:
                    body = f'{{"ID": {random.randint(1, VARIED)}}}' if vary else BODY
                    async with session.post(url + path, data=body, headers=headers) as r:
                        await r.read()
                        codes[r.status] += 1
                        latencies.append(time.perf_counter() - t0)
                except (aiohttp.ClientError, TimeoutError, OSError):
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(conc)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    n = sum(codes.values())
    non2xx = sum(v for k, v in codes.items() if not 200 <= k <= 299)
    listed = ",".join(f"{k}:{v}" for k, v in sorted(codes.items())) or "none"
    return (
        f"RESULT requests={n} duration_s={elapsed:.3f} rps={n / elapsed:.1f} "
        f"p50_ms={_pct(latencies, 50):.3f} p90_ms={_pct(latencies, 90):.3f} "
        f"p99_ms={_pct(latencies, 99):.3f} max_ms={_pct(latencies, 100):.3f} "
        f"status_201={codes.get(201, 0)} non2xx={non2xx} sock_errors={errors} codes={listed}"
    )


def main() -> None:
    """The fallback load generator's command line (same environment as post.lua)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("url")
    parser.add_argument("-c", "--concurrency", type=int, default=32)
    parser.add_argument("-d", "--duration", type=float, default=10)
    args = parser.parse_args()
    prefix = os.environ.get("PATH_PREFIX", "/portal-api")
    products = int(os.environ.get("PRODUCTS", "1"))
    vary = bool(os.environ.get("VARY_BODY"))
    origin = os.environ.get("ORIGIN", "")
    with contextlib.suppress(KeyboardInterrupt):
        line = asyncio.run(
            _fallback(
                args.url.rstrip("/"),
                args.concurrency,
                args.duration,
                prefix,
                products,
                vary,
                origin,
            )
        )
        print(line)


if __name__ == "__main__":
    main()
