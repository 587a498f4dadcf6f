"""`proxy.settings`: every bad option value, from a flag or its `PORTAL_PROXY_*` variable,
is refused with exit code 2 and a message naming the option (as `portal-proxy` reports it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_process import exit_2_message


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["mock", "--port", "70000"], {}, "--port"),
        (["mock", "--port", "abc"], {}, "--port"),
        (["mock"], {"PORTAL_PROXY_PORT": "-1"}, "PORTAL_PROXY_PORT"),
        (["mock", "--spec", "/nonexistent/spec.yaml"], {}, "--spec"),
        (["mock", "--log-format", "xml"], {}, "--log-format"),
        (["mock", "--max-body", "lots"], {}, "--max-body"),
        (["mock", "--loop", "tokio"], {}, "--loop"),
        (["record"], {}, "--upstream"),
        (["proxy", "--upstream", "ftp://portal"], {}, "--upstream"),
        (["proxy"], {"PORTAL_PROXY_UPSTREAM": "not a url"}, "PORTAL_PROXY_UPSTREAM"),
        (["record", "--upstream", "http://127.0.0.1:9", "--cassette", "../x"], {}, "--cassette"),
        (["record", "--upstream", "http://127.0.0.1:9", "--cassette", "/abs"], {}, "--cassette"),
        (
            ["record", "--upstream", "http://127.0.0.1:9", "--record-mode", "sometimes"],
            {},
            "--record-mode",
        ),
        (["replay", "--match-on", "method,colour"], {}, "--match-on"),
        (["replay", "--cassette", "nothing-here"], {}, "--cassette"),
    ],
)
def test_bad_values_exit_2_naming_the_option(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    env: dict[str, str],
    needle: str,
) -> None:
    """In-process: the same `main` the console script calls, with the same argv and variables
    (a real process per row would add a second of start-up each; the exit code of the real
    process is `test_cli.test_a_bad_value_exits_2_from_the_real_process`'s)."""
    env = {"PORTAL_PROXY_CASSETTE_DIR": str(tmp_path), **env}
    assert needle in exit_2_message(args, env, monkeypatch, capsys)
