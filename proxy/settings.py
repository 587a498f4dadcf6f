"""The resolved configuration of one gateway (`Settings`), from flags and variables.

The CLI turns argv plus `PORTAL_PROXY_*` variables into a `Settings` (`resolve`); the pytest
plugin and the tests build `Settings` directly. A flag beats its variable; a bad value of
either raises `SettingsError` naming the option (and the variable, when that is where it
came from). The options themselves, with their defaults, are `proxy.options`' table.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxy import values
from proxy.options import (
    BY_ATTR,
    CORS,
    DEFAULT_MATCH_ON,
    ENV_PREFIX,
    LOG_FORMATS,
    LOOPS,
    MODES,
    ON_MISS,
    ON_OFF,
    OPTIONS,
    RECORD_MODES,
    Cors,
    LogFormat,
    Loop,
    Mode,
    OnMiss,
    OnOff,
    Option,
    RecordMode,
    default,
)

__all__ = [
    "BY_ATTR",
    "CORS",
    "DEFAULT_MATCH_ON",
    "ENV_PREFIX",
    "LOG_FORMATS",
    "LOOPS",
    "MODES",
    "ON_MISS",
    "ON_OFF",
    "OPTIONS",
    "RECORD_MODES",
    "Cors",
    "LogFormat",
    "Loop",
    "Mode",
    "OnMiss",
    "OnOff",
    "Option",
    "RecordMode",
    "Settings",
    "SettingsError",
    "check",
    "default",
    "resolve",
]


class SettingsError(ValueError):
    """A bad option value; the message names the option and what was expected."""


def _default_spec() -> Path:
    from proxy.spec import shipped_spec_path

    return shipped_spec_path()


@dataclass(frozen=True, slots=True)
class Settings:
    """The resolved configuration of one gateway."""

    mode: Mode = "mock"
    host: str = default("host")
    port: int = default("port")
    spec: Path = field(default_factory=_default_spec)
    cassette_dir: Path = Path(default("cassette_dir"))
    cassette: str | None = None
    log_format: LogFormat = default("log_format")
    upstream: str | None = None
    upstream_timeout: float = default("upstream_timeout")
    record_mode: RecordMode = default("record_mode")
    match_on: tuple[str, ...] = default("match_on")
    on_miss: OnMiss = default("on_miss")
    filter_header: tuple[str, ...] = default("filter_header")
    max_body: int = default("max_body")
    admin_token: str | None = None
    strict: bool = default("strict")
    alert_webhook: str | None = None
    alert_window: float = default("alert_window")
    loop: Loop = default("loop")
    # -- upstream TLS, and readiness ------------------------------------------------
    upstream_ca: Path | None = None
    upstream_insecure: bool = default("upstream_insecure")
    upstream_cert: Path | None = None
    upstream_key: Path | None = None
    #: Seconds between readiness probes of the upstream; no option (operators have no need
    #: to change it), set by tests that watch readiness change.
    ready_interval: float = 5.0
    # The violations page.
    keep_exchanges: int = default("keep_exchanges")
    # -- browser apps
    cors: Cors = default("cors")
    cors_origin: tuple[str, ...] = default("cors_origin")
    access_log: OnOff = default("access_log")
    latency: tuple[int, int] = default("latency")  # (min, max) milliseconds
    # -- stateful mock
    state: OnOff = default("state")
    state_limit: int = default("state_limit")

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def resolve(
    mode: Mode, flags: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> Settings:
    """Combine parsed flags (raw strings, None when absent) with `PORTAL_PROXY_*` variables.

    Raises `SettingsError` naming the option for any bad value, and for a value that the
    mode requires but nobody gave.
    """
    env = os.environ if environ is None else environ
    fields: dict[str, Any] = {"mode": mode}
    for option in OPTIONS:
        raw = flags.get(option.attr)
        origin = f"--{option.name}"
        if raw in (None, [], False) and option.env in env and option.env != "":
            raw = env[option.env]
            origin = f"--{option.name} (from {option.env})"
        if raw in (None, [], False):
            continue
        if mode not in option.modes:
            if origin.startswith("--") and "from" not in origin:
                raise SettingsError(f"{origin} is not an option of `{mode}`")
            continue  # a variable meant for another mode is ignored
        try:
            if option.flag and raw is True:
                value: Any = True
            elif option.repeat and isinstance(raw, list):
                value = tuple(item for part in raw for item in option.parse(part))
            else:
                value = option.parse(raw)
        except ValueError as exc:
            raise SettingsError(f"{origin}: {exc}") from None
        fields[option.attr] = value
    if "spec" in fields:
        fields["spec"] = Path(fields["spec"])
    if "cassette_dir" in fields:
        fields["cassette_dir"] = Path(fields["cassette_dir"])
    settings = Settings(**fields)
    check(settings)
    return settings


def check(settings: Settings) -> None:
    """Cross-field checks that hold for any way a `Settings` was built."""
    if settings.mode not in MODES:
        raise SettingsError(f"unknown mode {settings.mode!r}; expected one of {', '.join(MODES)}")
    if settings.loop not in LOOPS:
        raise SettingsError(f"--loop: expected one of {', '.join(LOOPS)}, got {settings.loop!r}")
    if settings.cors not in CORS:
        raise SettingsError(f"--cors: expected one of {', '.join(CORS)}, got {settings.cors!r}")
    if settings.access_log not in ON_OFF:
        raise SettingsError(f"--access-log: expected on or off, got {settings.access_log!r}")
    low, high = settings.latency
    if not 0 <= low <= high <= values.MAX_DELAY_MS:
        raise SettingsError(
            f"--latency: expected 0 <= MIN <= MAX <= {values.MAX_DELAY_MS} ms, got {low}-{high}"
        )
    if settings.state not in ON_OFF:
        raise SettingsError(f"--state: expected on or off, got {settings.state!r}")
    if settings.state_limit < 1:
        raise SettingsError(f"--state-limit: expected at least 1, got {settings.state_limit}")
    if settings.loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        raise SettingsError(
            "--loop: uvloop is not installed; pip install uvloop, or install portal-proxy "
            "with its extra: pip install 'portal-proxy[fast] @ git+<repository URL>'"
        )
    if settings.mode in ("record", "proxy") and not settings.upstream:
        raise SettingsError(
            f"--upstream is required for `{settings.mode}` (e.g. http://portal:3001)"
        )
    from proxy.tls import TLSConfigError, client_context

    try:
        client_context(settings)  # missing, unreadable or non-PEM files, at start
    except TLSConfigError as exc:
        raise SettingsError(str(exc)) from None
    if not settings.spec.is_file():
        raise SettingsError(f"--spec: no such file {str(settings.spec)!r}")
    if settings.cassette is not None:
        from proxy.storage import validate_cassette_name

        try:
            validate_cassette_name(settings.cassette)
        except ValueError as exc:
            raise SettingsError(f"--cassette: {exc}") from None
    from proxy.cassette import MATCHERS

    unknown = [m for m in settings.match_on if m not in MATCHERS]
    if unknown or not settings.match_on:
        raise SettingsError(
            f"--match-on: unknown matcher {', '.join(unknown) or '(none given)'}; "
            f"expected some of {', '.join(MATCHERS)}"
        )
    if settings.mode in ("mock", "replay") and settings.cassette is not None:
        path = settings.cassette_dir / f"{settings.cassette}.yaml"
        if not path.is_file():
            raise SettingsError(
                f"--cassette: no cassette {settings.cassette!r} (looked for {str(path)!r}); "
                "record one with `portal-proxy record --upstream URL --cassette NAME`"
            )
    if (
        settings.mode == "replay"
        and settings.cassette is None
        and not any(settings.cassette_dir.glob("*.yaml"))
    ):
        raise SettingsError(
            f"--cassette-dir: no cassettes (*.yaml) in {str(settings.cassette_dir)!r}; "
            "record some with `portal-proxy record --upstream URL`"
        )
