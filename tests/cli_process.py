"""Run `portal-proxy` as a real process, as a user would, and wait for its start-up line."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from proxy.cli import main

START_LINE = re.compile(r"portal-proxy (\w+) listening on (http://\S+)")


@dataclass
class Process:
    """A running gateway process and the URL from its start-up line."""

    popen: subprocess.Popen[bytes]
    url: str
    mode: str
    started: float

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send `sig` and wait for the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        return self.popen.wait(timeout=timeout)


def command(*args: str) -> list[str]:
    """`python -m proxy ARGS` with this interpreter (the console script runs the same main)."""
    return [sys.executable, "-m", "proxy", *args]


def record_command(upstream: str, folder: Path, name: str, *extra: str) -> list[str]:
    """`portal-proxy record` on a free port, from `upstream` into `<folder>/<name>.yaml`."""
    return command(
        "record", "--port", "0", "--upstream", upstream, "--cassette", name,
        "--cassette-dir", str(folder), *extra,
    )  # fmt: skip


@contextmanager
def running(
    args: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 20.0,
    stderr: Path | None = None,
) -> Iterator[Process]:
    """Start the gateway, yield once it printed its URL, and always stop it."""
    environment = {**os.environ, **(env or {})}
    environment.setdefault("PYTHONUNBUFFERED", "1")
    err = open(stderr, "wb") if stderr is not None else subprocess.DEVNULL  # noqa: SIM115
    started = time.monotonic()
    popen = subprocess.Popen(
        list(args), stdout=subprocess.PIPE, stderr=err, env=environment, cwd=cwd
    )
    try:
        line = _first_line(popen, timeout)
        found = START_LINE.search(line)
        if not found:
            raise AssertionError(f"no start-up line from {args}: {line!r}")
        yield Process(popen, found.group(2), found.group(1), started)
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.wait(timeout=10)
        assert popen.stdout is not None
        popen.stdout.close()
        if stderr is not None and hasattr(err, "close"):
            err.close()


def _first_line(popen: subprocess.Popen[bytes], timeout: float) -> str:
    assert popen.stdout is not None
    deadline = time.monotonic() + timeout
    buffer = b""
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no start-up line within {timeout} s: {buffer!r}")
        ready, _, _ = select.select([popen.stdout], [], [], remaining)
        if ready:
            chunk = os.read(popen.stdout.fileno(), 4096)
            if not chunk:
                raise AssertionError(f"process exited ({popen.wait()}) before starting: {buffer!r}")
            buffer += chunk
    return buffer.decode(errors="replace").splitlines()[0]


def exit_2_message(
    argv: list[str],
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> str:
    """Run `main(argv)` in-process with exactly `env`'s `PORTAL_PROXY_*` variables; assert it
    exits with code 2 and return what it wrote to stderr."""
    for name in [name for name in os.environ if name.startswith("PORTAL_PROXY_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    return capsys.readouterr().err
