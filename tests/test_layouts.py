"""Tests for proxy.layouts and the plugin's `--portal-cassette-layout`: files that
pytest-recording itself wrote replay through the `portal_proxy` fixture, unrenamed."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest
from pytest_recording.plugin import get_default_cassette_name

from proxy.layouts import pytest_recording_name
from proxy.settings import Settings, SettingsError, check
from tests.test_pytest_plugin import INI, UpstreamFactory, module, run, upstreams

__all__ = ["upstreams"]  # the fixture, shared with the plugin's tests

pytest_plugins = ["pytester"]


@pytest.mark.parametrize(
    ("cls", "test"),
    [
        (None, "test_param[31]"),
        ("TestX", "test_y"),
        ("TestX", "test_y[a b-1]"),
        (None, "test_x[a/b:c*d?\"e'<f>|g%h\\\\i]"),
        (None, "test_é[ü]"),
    ],
)
def test_names_are_pytest_recordings(cls: str | None, test: str) -> None:
    test_class = type(cls, (), {}) if cls else None
    assert pytest_recording_name(cls, test) == get_default_cassette_name(test_class, test)


def test_an_overlong_name_is_cut_as_pytest_recording_cuts_it() -> None:
    name = pytest_recording_name(None, f"test_x[{'a' * 300}]")
    assert len(name) + len(".yaml") == 255
    assert name.startswith("test_x[aaa") and "..." in name


@pytest.mark.parametrize("name", ["test_param[31]", "TestX.test_y", "a b", ".x", "a..b"])
def test_the_cli_takes_any_file_name(tmp_path: Path, name: str) -> None:
    (tmp_path / f"{name}.yaml").write_text("interactions: []\nversion: 1\n")
    check(Settings(mode="replay", cassette_dir=tmp_path, cassette=name))


@pytest.mark.parametrize(
    ("name", "problem"), [("a/b", "path separator"), ("..", "'..'"), ("", "empty")]
)
def test_the_cli_refuses_what_is_no_file_name(tmp_path: Path, name: str, problem: str) -> None:
    with pytest.raises(SettingsError, match=f"--cassette: invalid cassette name .*{problem}"):
        check(Settings(mode="replay", cassette_dir=tmp_path, cassette=name))


# The same tests twice: recorded by pytest-recording, then replayed by our fixture.
RECORDING = """
import os

import pytest
import requests

URL = os.environ["PORTAL_STANDIN"] + "/portal-api/products/{}/client_types"


def post(product):
    answer = requests.post(
        URL.format(product), json={"ID": product}, headers={"Authorization": "test-token"}
    )
    assert answer.status_code == 201


@pytest.mark.vcr
@pytest.mark.parametrize("product", [31, 32])
def test_param(product):
    post(product)


@pytest.mark.vcr
class TestX:
    def test_y(self):
        post(5)
"""

REPLAYING = """
@pytest.mark.parametrize("product", [31, 32])
def test_param(portal_proxy, product):
    proxy = portal_proxy()
    status, body = post(proxy.url, product, {"ID": product})
    assert (status, body["ID"]) == (201, product)
    assert proxy.plays == {f"test_param[{product}]": 1}


class TestX:
    def test_y(self, portal_proxy):
        proxy = portal_proxy()
        assert post(proxy.url, 5, {"ID": 5})[0] == 201
        assert proxy.cassette_path.parts[-3:] == ("cassettes", "test_portal", "TestX.test_y.yaml")
"""


@pytest.mark.slow
async def test_pytest_recordings_files_replay_in_its_layout(
    pytester: pytest.Pytester, upstreams: UpstreamFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream = await upstreams()
    monkeypatch.setenv("PORTAL_STANDIN", upstream.url)
    pytester.makeini(INI)
    pytester.makepyfile(test_portal=textwrap.dedent(RECORDING))
    recorded = await run(pytester, "--record-mode=once")  # pytest-recording's option
    recorded.assert_outcomes(passed=3)
    folder = pytester.path / "cassettes" / "test_portal"
    names = ["TestX.test_y.yaml", "test_param[31].yaml", "test_param[32].yaml"]
    assert sorted(p.name for p in folder.iterdir()) == names

    await upstream.stop()
    pytester.makepyfile(test_portal=module(REPLAYING))
    replayed = await run(pytester, "--portal-cassette-layout=pytest-recording")
    replayed.assert_outcomes(passed=3)
    pytester.makeini(INI + "portal_cassette_layout = pytest-recording\n")
    from_ini = await run(pytester)
    from_ini.assert_outcomes(passed=3)
    assert sorted(p.name for p in folder.iterdir()) == names  # nothing renamed or added


async def test_a_bad_layout_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI + "portal_cassette_layout = nested\n")
    pytester.makepyfile(test_portal=module("def test_x():\n    pass\n"))
    result = await asyncio.to_thread(pytester.runpytest_subprocess, "-q")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*portal_cassette_layout: 'nested' is not a layout*"])
