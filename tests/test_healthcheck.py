"""The image's HEALTHCHECK finds the port the gateway serves on (the command itself is run
against a live gateway in tests/test_cli.py::test_the_docker_image_command_line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.healthcheck import main_process_argv, port_from


@pytest.mark.parametrize(
    ("argv", "environ", "port"),
    [
        ([], {}, "3001"),
        ([], {"PORTAL_PROXY_PORT": "8080"}, "8080"),
        (["portal-proxy", "mock", "--port", "9000"], {"PORTAL_PROXY_PORT": "8080"}, "9000"),
        (["portal-proxy", "proxy", "--port=9001"], {}, "9001"),
        (["portal-proxy", "mock", "--port"], {"PORTAL_PROXY_PORT": "8080"}, "8080"),
    ],
    ids=["default", "variable", "flag-beats-variable", "flag-with-equals", "dangling-flag"],
)
def test_the_port_is_the_gateways(argv: list[str], environ: dict[str, str], port: str) -> None:
    assert port_from(argv, environ) == port


@pytest.mark.parametrize(
    ("cmdline", "trusted"),
    [
        (b"/usr/local/bin/python\0/usr/local/bin/portal-proxy\0mock\0--port\0009000\0", True),
        (b"python\0-m\0proxy\0proxy\0--port\0009000\0", True),
        (b"/sbin/init\0--port\0009000\0", False),  # another program's --port means nothing
    ],
    ids=["console-script", "module", "not-the-gateway"],
)
def test_only_the_gateways_own_command_line_is_read(
    tmp_path: Path, cmdline: bytes, trusted: bool
) -> None:
    path = tmp_path / "cmdline"
    path.write_bytes(cmdline)
    argv = main_process_argv(path)
    assert (port_from(argv, {}) == "9000") is trusted


def test_an_unreadable_proc_is_no_command_line(tmp_path: Path) -> None:
    assert main_process_argv(tmp_path / "absent") == []
