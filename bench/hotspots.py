"""Where a gateway target spends its time: py-spy samples, summed per function.

py-spy must start the server itself (attaching to a running process is refused on this
kind of VM), so the target runs as `py-spy record -- taskset -c 1 python -m proxy MODE ...`
while wrk loads it. The samples are split in two phases: start-up (the application's
`GatewayApp.startup`, e.g. loading cassettes; imports left out) and serving under load.

Run alone: `.venv/bin/python bench/hotspots.py replay-100k [--seconds 10]`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import procs
from loadgen import Load, ensure_wrk, run_load

PY_SPY = Path(sys.executable).parent / "py-spy"
MODES = ("mock", "replay-1", "replay-1k", "replay-100k", "record", "proxy")
_LINE = re.compile(r":\d+\)$")
#: Frames of the start-up: what runs before the server accepts connections.
_STARTUP = ("GatewayApp.startup", "Application.startup", "BaseRunner.setup")
#: Phases shown when they hold at least this many samples (at 200 Hz: a quarter second).
MIN_SAMPLES = 50


def available() -> bool:
    """True when py-spy is installed next to the interpreter (or on PATH)."""
    return PY_SPY.exists() or shutil.which("py-spy") is not None


def _serving(stack: str) -> bool:
    return not any(marker in stack for marker in _STARTUP)


def _starting(stack: str) -> bool:
    return not _serving(stack)


def summarize(raw: Path, keep: Callable[[str], bool], top: int = 16) -> tuple[int, str]:
    """Samples kept, and own and inclusive shares of the busiest functions among them.

    Only the main thread (the event loop) counts: py-spy takes a thread-pool worker waiting
    on its queue for a busy one, which would hide where the loop's time goes.
    """
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        thread, _, stack = stack.partition(";")
        if "MainThread" not in thread or "importlib._bootstrap" in stack or not keep(stack):
            continue
        frames = [_LINE.sub(")", f) for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            incl[frame] += int(count)
    if not total:
        return 0, "no samples"
    out = [f"{total} samples of the main thread", "", "  own %  incl. %  function (by own time)"]
    out += [f"{v / total:7.1%}  {incl[k] / total:7.1%}  {k}" for k, v in own.most_common(top)]
    out += ["", "  own %  incl. %  function (by inclusive time; event-loop frames left out)"]
    shown = [
        (k, v)
        for k, v in incl.most_common(top * 4)
        if v / total < 0.97 and "asyncio/" not in k and "aiohttp/web_runner" not in k
    ][:top]
    out += [f"{own[k] / total:7.1%}  {v / total:7.1%}  {k}" for k, v in shown]
    return total, "\n".join(out)


def profile(
    name: str, args: list[str], port: int, load: Load, seconds: int, log_dir: Path, pin: bool
) -> dict[str, str]:
    """Run `python -m proxy ARGS` under py-spy, load it with wrk for `seconds`, summarize.

    Returns one summary per phase: "start-up" (when it was long enough to matter) and
    "serving at c=32" (with the req/s wrk saw, which py-spy's sampling slows somewhat).
    """
    spy = str(PY_SPY if PY_SPY.exists() else shutil.which("py-spy"))
    raw = log_dir / f"{name}.pyspy.raw"
    server_argv = procs.pinned(procs.SERVER_CPU, [sys.executable, "-m", "proxy", *args], pin)
    argv = [spy, "record", "-r", "200", "-d", str(seconds + 120), "--format", "raw", "--threads"]
    argv += ["-o", str(raw), "--", *server_argv]
    spied = procs.start(
        f"{name}.pyspy", procs.pinned(procs.LOAD_CPU, argv, pin), log_dir, pin=False
    )
    try:
        procs.wait_ready(spied, port, f"http://127.0.0.1:{port}/__proxy/health", 60)
        run = run_load(ensure_wrk(), load, 32, seconds, pin=pin, log_path=log_dir / f"{name}.wrk")
        os.kill(spied.pid, signal.SIGINT)  # py-spy writes its file on Ctrl-C
        with contextlib.suppress(subprocess.TimeoutExpired):
            spied.proc.wait(15)
    finally:
        spied.stop()
    time.sleep(0.2)
    if not raw.exists():
        return {"error": f"py-spy wrote nothing: {spied.log_tail()}"}
    phases = {}
    count, text = summarize(raw, _starting)
    if count >= MIN_SAMPLES:
        phases["start-up (imports left out)"] = text
    rps = f"{run.rps:.0f} req/s under py-spy" if run else "no wrk result"
    phases[f"serving at c=32 ({rps})"] = summarize(raw, _serving)[1]
    return phases


def profile_mode(
    mode: str, workdir: Path, seconds: int, pin: bool, log_dir: Path | None = None
) -> dict[str, str]:
    """Profile one of the gateway's targets (its cassette and the stand-in prepared)."""
    import targets

    workdir.mkdir(parents=True, exist_ok=True)
    ctx = targets.Context(workdir=workdir, log_dir=log_dir or workdir, pin=pin)
    target = next(t for t in targets.all_targets(ctx) if t.name == mode)
    if target.prepare:
        target.prepare(ctx)
    standin = None
    if target.upstream:
        standin = procs.start("standin", targets.standin_argv(ctx), ctx.log_dir, pin=pin)
        procs.wait_ready(standin, targets.STANDIN_PORT, None, 20)
    try:
        args = target.gateway_args
        return profile(mode, args, target.port, target.load, seconds, ctx.log_dir, pin)
    finally:
        if standin:
            standin.stop()


def main() -> None:
    """Profile one gateway mode by hand and print the summaries."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="portal-proxy-profile-") as tmp:
        phases = profile_mode(args.mode, Path(tmp), args.seconds, procs.pinning_works())
    for phase, text in phases.items():
        print(f"== {args.mode}: {phase}\n{text}\n")


if __name__ == "__main__":
    main()
