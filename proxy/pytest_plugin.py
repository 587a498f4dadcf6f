"""pytest plugin: serve, record and check portal cassettes from inside a test suite.

Installing the package registers it (the `pytest11` entry point `portal_proxy`). It adds:

- the `portal_proxy` factory fixture: each call starts a gateway on 127.0.0.1, port 0, and
  returns a `PortalProxy` (`.url`, `.violations`, `.plays`, `.cassette_path`); the gateways
  are closed in reverse order at teardown, flushing what they recorded;
- a cassette per test, `<test dir>/cassettes/<module>.<test>.yaml` (fixtures
  `portal_cassette_dir` and `portal_cassette_name`, marker `portal_cassette("name")`), or
  pytest-recording's `cassettes/<module>/<test>.yaml` with `--portal-cassette-layout
  pytest-recording` (ini `portal_cassette_layout`; see `proxy.layouts`);
- `--portal-record-mode` (default `none`: replay only, so CI needs no network) and
  `--portal-upstream URL` (or `PORTAL_PROXY_UPSTREAM`), so re-recording a suite is one command;
- `--portal-strict` / `@pytest.mark.portal_strict`: a test whose exchanges had Error
  violations fails, listing them.

Each gateway runs in a thread with its own event loop, as pytest-httpserver runs its server:
the same fixture then serves sync tests (`requests`, `urllib`) and async ones (aiohttp, httpx,
any loop or framework), without pytest-asyncio, and a sync client inside an async test cannot
deadlock the server. The heavy imports (the app, jsonschema) happen at the first call, so the
plugin costs nothing in test runs that do not use it.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import pytest

from proxy.layouts import LAYOUTS, Layout, cassette_dir, cassette_name, flat_name
from proxy.settings import (
    OPTIONS,
    RECORD_MODES,
    Mode,
    RecordMode,
    Settings,
    SettingsError,
    check,
)
from proxy.threaded import PortalProxy

if TYPE_CHECKING:
    pass

__all__ = ["PortalProxy", "PortalProxyFactory", "default_cassette_name"]

UPSTREAM_ENV = "PORTAL_PROXY_UPSTREAM"


@dataclass(frozen=True, slots=True)
class _Options:
    """The plugin's command-line options, resolved once per run."""

    record_mode: str
    upstream: str | None
    strict: bool
    layout: Layout


_OPTIONS = pytest.StashKey[_Options]()
_STARTED = pytest.StashKey[list["PortalProxy"]]()


# -- options and markers ------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--portal-record-mode`, `--portal-upstream`, `--portal-strict`."""
    group = parser.getgroup("portal-proxy", "portal-proxy cassettes")
    group.addoption(
        "--portal-record-mode",
        choices=RECORD_MODES,
        default="none",
        help="VCR.py record mode of the portal_proxy fixture: none (default: replay only, "
        "no network), once, new_episodes or all (these record, and need --portal-upstream)",
    )
    group.addoption(
        "--portal-upstream",
        metavar="URL",
        default=None,
        help=f"the portal to record from, e.g. http://portal:3001 (default: ${UPSTREAM_ENV})",
    )
    group.addoption(
        "--portal-strict",
        action="store_true",
        default=False,
        help="fail every test whose portal exchanges had spec violations of severity Error",
    )
    # pytest-recording's layout, so a suite migrating from it keeps its files.
    layouts = ", ".join(LAYOUTS)
    group.addoption(
        "--portal-cassette-layout",
        choices=LAYOUTS,
        default=None,
        help=f"where test cassettes live: {layouts} (default: the ini option "
        "portal_cassette_layout, else flat: cassettes/<module>.<test>.yaml; pytest-recording: "
        "cassettes/<module>/<test>.yaml with pytest-recording's names)",
    )
    parser.addini(
        "portal_cassette_layout",
        f"where the portal_proxy fixture keeps test cassettes: {layouts}",
        default=LAYOUTS[0],
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers and check the options once, before any test runs."""
    config.addinivalue_line(
        "markers",
        "portal_cassette(name): the cassette the portal_proxy fixture uses in this test "
        "(<portal_cassette_dir>/<name>.yaml) instead of <module>.<test>",
    )
    config.addinivalue_line(
        "markers",
        "portal_strict(enabled=True): fail the test if its portal exchanges had spec "
        "violations of severity Error (portal_strict(False) opts out of --portal-strict)",
    )
    upstream = config.getoption("portal_upstream")
    origin = "--portal-upstream"
    if upstream is None and os.environ.get(UPSTREAM_ENV):
        upstream, origin = os.environ[UPSTREAM_ENV], UPSTREAM_ENV
    if upstream is not None:
        parse_url = next(o.parse for o in OPTIONS if o.name == "upstream")
        try:
            upstream = parse_url(upstream)
        except ValueError as exc:
            raise pytest.UsageError(f"{origin}: {exc}") from None
    layout = config.getoption("portal_cassette_layout") or config.getini("portal_cassette_layout")
    if layout not in LAYOUTS:
        raise pytest.UsageError(
            f"portal_cassette_layout: {layout!r} is not a layout; choose from {', '.join(LAYOUTS)}"
        )
    config.stash[_OPTIONS] = _Options(
        record_mode=config.getoption("portal_record_mode"),
        upstream=upstream,
        strict=bool(config.getoption("portal_strict")),
        layout=cast(Layout, layout),
    )


def pytest_report_header(config: pytest.Config) -> str | None:
    """One header line when recording or strict, so a run's settings show in its log."""
    options = config.stash.get(_OPTIONS, None)
    if options is None or (options.record_mode == "none" and not options.strict):
        return None
    return (
        f"portal-proxy: record mode {options.record_mode}, "
        f"upstream {options.upstream or '(none)'}, strict {'on' if options.strict else 'off'}"
    )


# -- fixtures -----------------------------------------------------------------------------------


class PortalProxyFactory(Protocol):
    """The `portal_proxy` fixture: call it to start a gateway (annotate tests with this)."""

    def __call__(
        self,
        mode: str | None = None,
        *,
        cassette: str | None = None,
        upstream: str | None = None,
        spec: Path | str | None = None,
        **settings: Any,
    ) -> PortalProxy:
        """Start a gateway; the other keywords are `proxy.settings.Settings` fields."""
        ...


def default_cassette_name(module: str, cls: str | None, test: str) -> str:
    """`<module>.<Class>.<test>` as a plain cassette name (the `flat` layout's names).

    A parametrized test's id follows a dot (`test_x[1-a]` -> `test_x.1-a`); other characters
    a cassette name cannot hold become `-`; an overlong name is cut and given a hash.
    """
    return flat_name(module, cls, test)


@pytest.fixture
def portal_cassette_dir(request: pytest.FixtureRequest) -> Path:
    """Where the test's cassettes live: `cassettes/` beside the test file, or in the
    `pytest-recording` layout `cassettes/<module>/` (override freely)."""
    return cassette_dir(request.config.stash[_OPTIONS].layout, request.path)


@pytest.fixture
def portal_cassette_name(request: pytest.FixtureRequest) -> str:
    """The test's cassette: the `portal_cassette` marker's name, else the layout's name
    (`<module>.<test>`, or pytest-recording's `<test>` in its layout)."""
    marker = request.node.get_closest_marker("portal_cassette")
    if marker is not None:
        if len(marker.args) != 1 or not isinstance(marker.args[0], str):
            pytest.fail(
                f"portal_cassette: expected one name, as in @pytest.mark.portal_cassette('name'); "
                f"got {marker.args!r}",
                pytrace=False,
            )
        return str(marker.args[0])
    layout = request.config.stash[_OPTIONS].layout
    if layout == "pytest-recording":
        # pytest-recording's own marker names the cassette the same way there.
        recording = request.node.get_closest_marker("default_cassette")
        if recording is not None and recording.args:
            return str(recording.args[0])
    cls = request.cls.__name__ if request.cls is not None else None
    return cassette_name(layout, request.path.stem, cls, request.node.name)


@pytest.fixture
def portal_proxy(
    request: pytest.FixtureRequest, portal_cassette_dir: Path, portal_cassette_name: str
) -> Iterator[PortalProxyFactory]:
    """Start gateways on 127.0.0.1, port 0: `proxy = portal_proxy()`, then use `proxy.url`.

    `mode` defaults to `replay` under `--portal-record-mode=none` (the default) and to
    `record` otherwise; `cassette` to the test's cassette; `upstream` to `--portal-upstream`.
    Gateways are closed in reverse order at teardown, with their recordings flushed.
    """
    options = request.config.stash[_OPTIONS]
    started: list[PortalProxy] = []
    request.node.stash[_STARTED] = started

    def factory(
        mode: str | None = None,
        *,
        cassette: str | None = None,
        upstream: str | None = None,
        spec: Path | str | None = None,
        **changes: Any,
    ) -> PortalProxy:
        record_mode = changes.pop("record_mode", None) or options.record_mode
        upstream = upstream or options.upstream
        name = _checked_name(cassette or portal_cassette_name)
        directory = Path(changes.pop("cassette_dir", portal_cassette_dir))
        path = directory / f"{name}.yaml"
        if mode is None:
            mode = "replay" if record_mode == "none" else "record"
            if mode == "record" and not upstream:
                pytest.fail(
                    f"portal_proxy: --portal-record-mode={record_mode} records from the "
                    f"portal, so it needs its URL: --portal-upstream URL (or {UPSTREAM_ENV})",
                    pytrace=False,
                )
        if mode == "replay" and not path.is_file():
            pytest.fail(_missing_cassette(request, name, path), pytrace=False)
        keep = mode in ("replay", "record") or (mode == "mock" and path.is_file())
        if spec is not None:
            changes["spec"] = Path(spec)
        changes.setdefault("host", "127.0.0.1")
        changes.setdefault("port", 0)
        settings = Settings(
            mode=cast("Mode", mode),  # `check` below refuses what is not a mode
            cassette_dir=directory,
            cassette=name if keep or cassette else None,
            upstream=upstream,
            record_mode=cast("RecordMode", record_mode),
            **changes,
        )
        try:
            check(settings)
        except SettingsError as exc:
            pytest.fail(f"portal_proxy: {exc}", pytrace=False)
        proxy = PortalProxy(settings, path if keep else None)
        try:
            proxy.start()
        except Exception as exc:
            from proxy.storage import CassetteError, CassetteLockedError

            if isinstance(exc, CassetteLockedError | CassetteError):
                pytest.fail(f"portal_proxy: {exc}", pytrace=False)
            raise
        started.append(proxy)
        return proxy

    yield factory
    errors: list[BaseException] = []
    for proxy in reversed(started):
        try:
            proxy.close()
        except Exception as exc:  # close the others first, then report the first failure
            errors.append(exc)
    if errors:
        raise errors[0]


def _checked_name(name: str) -> str:
    from proxy.storage import validate_cassette_name

    try:
        return validate_cassette_name(name)
    except ValueError as exc:
        pytest.fail(f"portal_proxy: {exc}", pytrace=False)


def _missing_cassette(request: pytest.FixtureRequest, name: str, path: Path) -> str:
    rootdir = request.config.rootpath
    try:
        shown = path.relative_to(rootdir)
    except ValueError:
        shown = path
    return (
        f"portal_proxy: no cassette {name!r} to replay (looked for {shown}).\n"
        "Record it from the portal with:\n"
        f"    pytest --portal-record-mode=once --portal-upstream URL "
        f"{shlex.quote(request.node.nodeid)}"
    )


# -- strict mode --------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """After the test body: fail it if strict and it had Error violations; otherwise list
    its violations in a report section (shown when the test fails)."""
    try:
        result = yield
    except BaseException:
        _add_violations_section(item, _reports(item))
        raise
    reports = _reports(item)
    errors = [v for r in reports for v in r["violations"] if v["severity"] == "Error"]
    if errors and _strict(item):
        pytest.fail(
            f"portal-proxy strict: {len(errors)} spec violation"
            f"{'s' if len(errors) != 1 else ''} of severity Error in this test's "
            f"exchanges:\n{_describe(reports)}",
            pytrace=False,
        )
    _add_violations_section(item, reports)
    return result


def _strict(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("portal_strict")
    if marker is not None:
        return bool(marker.args[0]) if marker.args else bool(marker.kwargs.get("enabled", True))
    return item.config.stash[_OPTIONS].strict


def _reports(item: pytest.Item) -> list[dict[str, Any]]:
    """The exchanges with violations of every gateway the test started, oldest first."""
    reports = [r for proxy in item.stash.get(_STARTED, []) for r in proxy.reports]
    reports.sort(key=lambda report: float(report["time"]))
    return reports


def _add_violations_section(item: pytest.Item, reports: list[dict[str, Any]]) -> None:
    if reports:
        item.add_report_section("call", "portal-proxy violations", _describe(reports))


def _describe(reports: list[dict[str, Any]]) -> str:
    from proxy.violations import violation_line

    lines = []
    for report in reports:
        lines.append(f"  {report['method']} {report['path']} -> {report['status']}")
        lines.extend(f"    {violation_line(v)}" for v in report["violations"])
    return "\n".join(lines)
