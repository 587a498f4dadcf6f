"""The pytest plugin: the `portal_proxy` fixture used directly, and whole runs with pytester.

The pytester runs are subprocesses (`runpytest_subprocess`): each is a fresh pytest that
loads the plugin through its `pytest11` entry point, exactly as a user's run would. The
stand-in portal serves from this test's event loop, so the blocking run goes to a thread.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from proxy.pytest_plugin import PortalProxyFactory, default_cassette_name
from proxy.standin import Standin
from proxy.storage import NAME_MAX
from tests.conftest import TOKEN_HEADERS

pytest_plugins = ["pytester"]

ROUTE = "/products/{}/client_types"

# The generated projects run as strictly as this one.
INI = """
[pytest]
addopts = --strict-markers -p no:cacheprovider
filterwarnings = error
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""

# Helpers every generated test module starts with: a stdlib (sync) client.
HELPERS = '''
import json
import urllib.error
import urllib.request

import aiohttp
import pytest


def post(url, product=1, body=None, token="test-token"):
    """POST to the route with urllib; (status, parsed JSON body)."""
    data = json.dumps({"ID": 7} if body is None else body).encode()
    request = urllib.request.Request(
        f"{url}/products/{product}/client_types", data=data, method="POST",
        headers={"Content-Type": "application/json", **({"Authorization": token} if token else {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
'''


def module(body: str) -> str:
    return HELPERS + textwrap.dedent(body)


class Upstream:
    """A stand-in portal served from the test's loop; `stop` makes it unreachable."""

    def __init__(self, standin: Standin) -> None:
        self.standin = standin
        self.runner = web.AppRunner(standin.app(), access_log=None)
        self.url = ""

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        await self.runner.cleanup()


UpstreamFactory = Callable[..., Awaitable[Upstream]]


@pytest.fixture
async def upstreams() -> AsyncIterator[UpstreamFactory]:
    """Start stand-in portals (`Standin` options as keywords); stopped at teardown."""
    started: list[Upstream] = []

    async def factory(**options: bool) -> Upstream:
        upstream = Upstream(Standin(**options))
        await upstream.start()
        started.append(upstream)
        return upstream

    yield factory
    for upstream in reversed(started):
        await upstream.stop()  # a second cleanup of a stopped one is harmless


async def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """A pytest subprocess in the generated project, off this loop (which serves upstreams)."""
    return await asyncio.to_thread(pytester.runpytest_subprocess, "-q", *args, timeout=50)


# -- cassette names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module_name", "cls", "test", "expected"),
    [
        ("test_api", None, "test_attach", "test_api.test_attach"),
        ("test_api", "TestAttach", "test_ok", "test_api.TestAttach.test_ok"),
        ("test_api", None, "test_x[1-web]", "test_api.test_x.1-web"),
        ("test_api", None, "test_x[a/b c:d]", "test_api.test_x.a-b-c-d"),
        ("test_api", None, "test_x[é]", "test_api.test_x.-"),
    ],
)
def test_default_cassette_name(module_name: str, cls: str | None, test: str, expected: str) -> None:
    assert default_cassette_name(module_name, cls, test) == expected


def test_overlong_cassette_name_is_cut_and_stays_distinct() -> None:
    first = default_cassette_name("test_api", None, f"test_x[{'a' * 300}]")
    second = default_cassette_name("test_api", None, f"test_x[{'a' * 299}b]")
    assert len(first) == len(second) == NAME_MAX
    assert first != second


# -- the fixture, used here directly ------------------------------------------------------------


async def test_mock_gateway_url_violations_and_reports(
    portal_proxy: PortalProxyFactory, session: aiohttp.ClientSession
) -> None:
    proxy = portal_proxy("mock")
    assert proxy.url.startswith("http://127.0.0.1:")
    assert proxy.url.endswith("/portal-api")
    assert proxy.cassette_path is None  # mock, and no recording of this test exists

    async with session.post(
        proxy.url + ROUTE.format(1), json={"ID": 3}, headers=TOKEN_HEADERS
    ) as r:
        assert r.status == 201
        assert (await r.json())["ID"] == 3
    assert proxy.violations == []

    async with session.post(proxy.url + ROUTE.format(1), json={"ID": 3}) as r:
        assert r.status == 401
    assert [v["location"][0] for v in proxy.violations] == ["request"]
    assert proxy.violations[0]["severity"] == "Error"
    [report] = proxy.reports
    assert (report["method"], report["status"]) == ("POST", 401)
    assert proxy.plays == {}


async def test_admin_endpoints_are_on_the_server_url(
    portal_proxy: PortalProxyFactory, session: aiohttp.ClientSession
) -> None:
    proxy = portal_proxy(mode="mock")
    assert proxy.url == proxy.server_url + "/portal-api"
    async with session.get(proxy.server_url + "/__proxy/health") as r:
        assert r.status == 200


def test_unknown_settings_field_is_a_type_error(portal_proxy: PortalProxyFactory) -> None:
    with pytest.raises(TypeError, match="no_such_option"):
        portal_proxy("mock", no_such_option=1)


# -- whole runs ---------------------------------------------------------------------------------

RECORDED = module(
    """
    def test_sync(portal_proxy):
        proxy = portal_proxy()
        assert proxy.cassette_path.name == "test_portal.test_sync.yaml"
        assert post(proxy.url, 3, {"ID": 5})[0] == 201
        assert post(proxy.url, 3, {"ID": 6})[1]["ID"] == 6
        assert proxy.violations == []
        if proxy.mode == "replay":
            assert proxy.plays == {"test_portal.test_sync": 2}


    async def test_async(portal_proxy):
        proxy = portal_proxy()
        async with aiohttp.ClientSession() as session:
            async with session.post(
                proxy.url + "/products/9/client_types", json={"ID": 1},
                headers={"Authorization": "test-token"},
            ) as response:
                assert response.status == 201
                source = response.headers["X-Portal-Proxy-Source"]
                assert source == "cassette" if proxy.mode == "replay" else source != "mock"


    @pytest.mark.portal_cassette("shared")
    def test_named(portal_proxy):
        proxy = portal_proxy()
        assert proxy.cassette_path.name == "shared.yaml"
        assert post(proxy.url, 4)[0] == 201


    class TestGroup:
        @pytest.mark.parametrize("product", [1, 2])
        def test_param(self, portal_proxy, product):
            assert post(portal_proxy().url, product)[0] == 201
    """
)


async def test_records_then_replays_with_the_upstream_stopped(
    pytester: pytest.Pytester, upstreams: UpstreamFactory
) -> None:
    upstream = await upstreams()
    pytester.makeini(INI)
    pytester.makepyfile(test_portal=RECORDED)

    recorded = await run(pytester, "--portal-record-mode=once", "--portal-upstream", upstream.url)
    recorded.assert_outcomes(passed=5)
    assert len(upstream.standin.received) == 6
    cassettes = pytester.path / "cassettes"
    assert sorted(p.name for p in cassettes.glob("*.yaml")) == [
        "shared.yaml",
        "test_portal.TestGroup.test_param.1.yaml",
        "test_portal.TestGroup.test_param.2.yaml",
        "test_portal.test_async.yaml",
        "test_portal.test_sync.yaml",
    ]
    assert "test-token" not in (cassettes / "test_portal.test_sync.yaml").read_text()

    await upstream.stop()
    replayed = await run(pytester)
    replayed.assert_outcomes(passed=5)

    # `once` with the cassettes present replays them: the upstream is not needed either.
    again = await run(pytester, "--portal-record-mode=once", "--portal-upstream", upstream.url)
    again.assert_outcomes(passed=5)


async def test_missing_cassette_says_how_to_record_it(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        test_portal=module(
            """
            def test_new(portal_proxy):
                post(portal_proxy().url)


            @pytest.mark.portal_cassette("../elsewhere")
            def test_bad_name(portal_proxy):
                portal_proxy()
            """
        )
    )
    result = await run(pytester)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*no cassette 'test_portal.test_new' to replay (looked for "
            "cassettes/test_portal.test_new.yaml)*",
            "*pytest --portal-record-mode=once --portal-upstream URL test_portal.py::test_new",
            "*invalid cassette name '../elsewhere': it contains a path separator*",
        ]
    )

    without_upstream = await run(pytester, "--portal-record-mode=all", "test_portal.py::test_new")
    without_upstream.assert_outcomes(failed=1)
    without_upstream.stdout.fnmatch_lines(["*needs its URL: --portal-upstream URL*"])


async def test_bad_upstream_url_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(test_portal="def test_nothing():\n    pass\n")
    result = await run(pytester, "--portal-upstream", "portal:3001")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--portal-upstream: expected an http(s) URL*"])


STRICT = module(
    """
    def test_bad_request_unmarked(portal_proxy):
        assert post(portal_proxy("mock").url, token="")[0] == 401


    @pytest.mark.portal_strict
    def test_bad_request_marked(portal_proxy):
        assert post(portal_proxy("mock").url, token="")[0] == 401


    @pytest.mark.portal_strict(False)
    def test_bad_request_opted_out(portal_proxy):
        assert post(portal_proxy("mock").url, token="")[0] == 401


    def test_invalid_upstream_response(portal_proxy):
        # The upstream comes from PORTAL_PROXY_UPSTREAM.
        status, body = post(portal_proxy("proxy").url)
        assert status == 201 and body["GrantType"] == "bogus"


    def test_clean(portal_proxy):
        assert post(portal_proxy("mock").url)[0] == 201
    """
)


async def test_strict_fails_tests_with_violations_and_lists_them(
    pytester: pytest.Pytester, upstreams: UpstreamFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream = await upstreams(invalid=True)
    monkeypatch.setenv("PORTAL_PROXY_UPSTREAM", upstream.url)
    pytester.makeini(INI)
    pytester.makepyfile(test_portal=STRICT)

    marked_only = await run(pytester)
    marked_only.assert_outcomes(passed=4, failed=1)
    marked_only.stdout.fnmatch_lines(
        [
            "*_ test_bad_request_marked _*",
            "portal-proxy strict: 1 spec violation of severity Error in this test's exchanges:",
            "  POST /portal-api/products/1/client_types -> 401",
            "    Error request (401): *Authorization*",
            "FAILED test_portal.py::test_bad_request_marked*",
        ]
    )

    everywhere = await run(pytester, "--portal-strict", "-rf")
    everywhere.assert_outcomes(passed=2, failed=3)
    everywhere.stdout.fnmatch_lines(
        [
            "FAILED test_portal.py::test_bad_request_unmarked*",
            "FAILED test_portal.py::test_bad_request_marked*",
            "FAILED test_portal.py::test_invalid_upstream_response*",
        ]
    )
    everywhere.stdout.fnmatch_lines(
        [
            "*_ test_invalid_upstream_response _*",
            "*portal-proxy strict: * spec violation* of severity Error*",
            "*POST /portal-api/products/1/client_types -> 201",
            "*Error response.body.GrantType (enum): *",
        ],
        consecutive=False,
    )
    everywhere.stdout.fnmatch_lines(["*Error request*Authorization*"])


async def test_gateways_close_in_reverse_order_with_recordings_flushed(
    pytester: pytest.Pytester, upstreams: UpstreamFactory
) -> None:
    upstream = await upstreams()
    pytester.makeini(INI)
    pytester.makeconftest(
        """
        import proxy.pytest_plugin as plugin

        CLOSED = []
        _close = plugin.PortalProxy.close

        def close(self):
            CLOSED.append(self.url)
            _close(self)
            # Flushed by the time the gateway is closed: the cassette is on disk.
            assert self.cassette_path is None or self.cassette_path.stat().st_size > 0

        plugin.PortalProxy.close = close
        """
    )
    pytester.makepyfile(
        test_portal=module(
            """
            from conftest import CLOSED

            STARTED = []

            def test_two(portal_proxy):
                for name in ("first", "second"):
                    proxy = portal_proxy(cassette=name)
                    assert post(proxy.url)[0] == 201
                    STARTED.append(proxy.url)

            def test_order():
                assert CLOSED == STARTED[::-1]
            """
        )
    )
    result = await run(pytester, "--portal-record-mode=all", "--portal-upstream", upstream.url)
    result.assert_outcomes(passed=2)
    assert {p.name for p in (pytester.path / "cassettes").glob("*.yaml")} == {
        "first.yaml",
        "second.yaml",
    }
