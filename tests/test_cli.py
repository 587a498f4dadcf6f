"""The command line as a user runs it: start-up line, options, variables, errors, signals."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from proxy.cli import main
from tests.cli_process import command, exit_2_message, running

ROOT = Path(__file__).resolve().parents[1]
BODY = b'{"ID": 11}'
HEADERS = {"Authorization": "cli-token", "Content-Type": "application/json"}


def post(url: str, product: int = 1) -> tuple[int, dict[str, str], bytes]:
    """A blocking POST to the route (the tests' own client, no event loop needed)."""
    request = urllib.request.Request(
        f"{url}/portal-api/products/{product}/client_types",
        data=BODY,
        headers=HEADERS,
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, dict(response.headers), response.read()


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*args),
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


def test_mock_prints_one_start_line_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    with running(command("mock", "--port", "0"), cwd=tmp_path) as proc:
        assert proc.mode == "mock"
        assert proc.url.startswith("http://127.0.0.1:")
        status, headers, body = post(proc.url)
        assert status == 201
        assert headers["X-Portal-Proxy-Source"] == "mock"
        assert json.loads(body)["ID"] == 11
        assert proc.stop(signal.SIGTERM) == 0


def test_sigint_also_exits_zero(tmp_path: Path) -> None:
    with running(command("mock", "--port", "0"), cwd=tmp_path) as proc:
        assert post(proc.url)[0] == 201
        assert proc.stop(signal.SIGINT) == 0


def test_console_script_finds_the_shipped_spec_from_any_directory(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("portal-proxy")
    assert script.exists(), "the package is not installed with its console script"
    with running([str(script), "mock", "--port", "0"], cwd=tmp_path) as proc:
        assert post(proc.url)[0] == 201
        assert proc.stop() == 0


def test_environment_variables_set_options(tmp_path: Path) -> None:
    env = {"PORTAL_PROXY_PORT": "0", "PORTAL_PROXY_HOST": "127.0.0.1"}
    with running(command("mock"), env=env, cwd=tmp_path) as proc:
        assert post(proc.url)[0] == 201
        assert proc.stop() == 0


def test_a_flag_beats_its_variable(tmp_path: Path) -> None:
    env = {"PORTAL_PROXY_PORT": "not-a-port"}
    with running(command("mock", "--port", "0"), env=env, cwd=tmp_path) as proc:
        assert post(proc.url)[0] == 201
        assert proc.stop() == 0


@pytest.mark.parametrize(("args", "needle"), [(["fly"], "invalid choice: 'fly'"), ([], "required")])
def test_a_bad_command_exits_2_naming_it(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    needle: str,
) -> None:
    assert needle in exit_2_message(args, {}, monkeypatch, capsys)


def test_a_bad_value_exits_2_from_the_real_process(tmp_path: Path) -> None:
    result = run_cli("mock", "--port", "70000", env={"PORTAL_PROXY_CASSETTE_DIR": str(tmp_path)})
    assert result.returncode == 2, result
    assert "--port" in result.stderr, result.stderr


def test_bad_spec_content_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("openapi: 3.1.0\n")
    with pytest.raises(SystemExit) as exited:
        main(["mock", "--spec", str(spec)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--spec" in err and "paths" in err


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with running(command("mock", "--port", "0"), cwd=tmp_path) as proc:
        port = proc.url.rsplit(":", 1)[1]
        result = run_cli("mock", "--port", port)
        assert result.returncode == 2
        assert f":{port}" in result.stderr
        assert proc.stop() == 0


def dockerfile_env(dockerfile: str) -> dict[str, str]:
    """The `PORTAL_PROXY_*` variables the image's `ENV` instructions set."""
    return dict(re.findall(r"\b(PORTAL_PROXY_\w+)=(\S+)", dockerfile))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_docker_image_command_line(tmp_path: Path) -> None:
    """Run exactly what the image runs: ENTRYPOINT + CMD, configured by its ENV, on another
    port than the default (as `docker run -e PORTAL_PROXY_PORT=...` does), and its
    HEALTHCHECK, which must follow that port. (No Docker daemon in CI: the same commands.)"""
    dockerfile = (ROOT / "Dockerfile").read_text()
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", dockerfile, re.M).group(1))  # type: ignore[union-attr]
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1))  # type: ignore[union-attr]
    assert entrypoint == ["portal-proxy"]
    env = dockerfile_env(dockerfile)
    # A CMD replaced without --host must still listen on every interface.
    assert env["PORTAL_PROXY_HOST"] == "0.0.0.0"
    assert re.search(r"^VOLUME /app/cassettes$", dockerfile, re.M)
    script = str(Path(sys.executable).with_name("portal-proxy"))
    port = free_port()
    env["PORTAL_PROXY_PORT"] = str(port)
    with running([script, *cmd], cwd=tmp_path, env=env) as proc:
        assert proc.url == f"http://0.0.0.0:{port}"
        assert post(f"http://127.0.0.1:{port}")[0] == 201
        healthcheck = re.search(r"^HEALTHCHECK .*CMD (\[.*\])$", dockerfile, re.M)
        assert healthcheck is not None
        probe_cmd = json.loads(healthcheck.group(1))
        assert probe_cmd[0] == "python"
        run_probe = [sys.executable, *probe_cmd[1:]]
        probe = subprocess.run(
            run_probe, capture_output=True, timeout=15, env={**os.environ, **env}
        )
        assert probe.returncode == 0, probe
        assert proc.stop() == 0
    # Nothing listens any more: unhealthy, saying where it looked.
    probe = subprocess.run(
        run_probe, capture_output=True, text=True, timeout=15, env={**os.environ, **env}
    )
    assert probe.returncode == 1
    assert f"port {port}" in probe.stderr


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_loop_picks_the_event_loop(tmp_path: Path, loop: str) -> None:
    if loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        # Without the `fast` extra, asking for uvloop is a start-up error that says so.
        result = run_cli("mock", "--port", "0", "--loop", "uvloop")
        assert result.returncode == 2
        assert "portal-proxy[fast]" in result.stderr
        return
    with running(command("mock", "--port", "0", "--loop", loop), cwd=tmp_path) as proc:
        assert post(proc.url)[0] == 201
        with urllib.request.urlopen(proc.url + "/__proxy/health", timeout=10) as answer:
            assert json.loads(answer.read())["loop"] == loop
        assert proc.stop() == 0
