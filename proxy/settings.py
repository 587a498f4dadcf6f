"""Every option of every mode: its type, default, help and environment variable, in one table.

The CLI turns argv plus `PORTAL_PROXY_*` variables into a `Settings`; the pytest plugin and
the tests build `Settings` directly. A flag beats its variable; a bad value of either raises
`SettingsError` naming the option (and the variable, when that is where it came from).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

MODES = ("mock", "replay", "record", "proxy")
RECORD_MODES = ("once", "new_episodes", "all", "none")
ON_MISS = ("error", "mock")
LOG_FORMATS = ("text", "json")
LOOPS = ("auto", "asyncio", "uvloop")
ENV_PREFIX = "PORTAL_PROXY_"
# -- issue 13: stateful mock --
StateSwitch = Literal["on", "off"]
STATE_SWITCH: tuple[str, ...] = get_args(StateSwitch)


class SettingsError(ValueError):
    """A bad option value; the message names the option and what was expected."""


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise ValueError(f"expected a port number 0-65535, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is out of range 0-65535")
    return port


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"expected a positive number, got {text!r}")
    return value


def _size(text: str) -> int:
    units = {"": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2}
    lowered = text.strip().lower()
    number = lowered.rstrip("kmib")
    unit = lowered[len(number) :]
    if unit not in units or not number.isdigit():
        raise ValueError(f"expected a size in bytes (e.g. 1048576, 512k, 1m), got {text!r}")
    value = int(number) * units[unit]
    if value <= 0:
        raise ValueError("expected a size above zero")
    return value


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {text!r}")
        return text

    return parse


def _url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http(s) URL such as http://portal:3001, got {text!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"the URL must not have a query or fragment, got {text!r}")
    return text.rstrip("/")


def _list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _count(text: str) -> int:
    # issue 13: a positive whole number (`--state-limit`).
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise ValueError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _text(text: str) -> str:
    return text


@dataclass(frozen=True, slots=True)
class Option:
    """One command-line option: `--name`, its parser, help, and the modes that take it."""

    name: str
    parse: Callable[[str], Any]
    help: str
    modes: tuple[str, ...] = MODES
    flag: bool = False  # a switch with no value
    repeat: bool = False  # may be given several times (values are joined)
    metavar: str | None = None

    @property
    def env(self) -> str:
        """The environment variable that sets this option."""
        return ENV_PREFIX + self.name.upper().replace("-", "_")

    @property
    def attr(self) -> str:
        """The `Settings` field this option fills."""
        return self.name.replace("-", "_")


OPTIONS: tuple[Option, ...] = (
    Option("host", _text, "address to listen on (default 127.0.0.1)"),
    Option("port", _port, "port to listen on; 0 picks a free one (default 3001)"),
    Option(
        "spec",
        _text,
        "OpenAPI 3.1 document (default: the shipped client_types spec)",
        metavar="FILE",
    ),
    Option("cassette-dir", _text, "folder of cassettes (default cassettes/)", metavar="DIR"),
    Option("cassette", _text, "cassette name: the file <cassette-dir>/<NAME>.yaml", metavar="NAME"),
    Option("log-format", _choice(LOG_FORMATS), "log lines as text or json (default text)"),
    Option(
        "upstream",
        _url,
        "the portal's origin, e.g. http://portal:3001",
        ("record", "proxy"),
        metavar="URL",
    ),
    Option(
        "upstream-timeout",
        _positive_float,
        "seconds to wait for the upstream (default 30)",
        ("record", "proxy"),
    ),
    Option(
        "record-mode",
        _choice(RECORD_MODES),
        "VCR.py record mode: once, new_episodes, all, none (default once)",
        ("record",),
    ),
    Option(
        "match-on",
        _list,
        "VCR.py matchers, comma separated (default method,path,query,body)",
        ("mock", "replay", "record"),
        metavar="M1,M2",
    ),
    Option(
        "on-miss",
        _choice(ON_MISS),
        "what a replay miss does: error (404) or mock (default error)",
        ("replay",),
    ),
    Option(
        "filter-header",
        _list,
        "another header to redact in cassettes and logs (repeatable)",
        ("record", "proxy"),
        repeat=True,
        metavar="NAME",
    ),
    Option("max-body", _size, "largest request body accepted, in bytes (default 1m)"),
    Option(
        "admin-token",
        _text,
        "require `Authorization: Bearer T` on /__proxy/ endpoints but health",
        metavar="T",
    ),
    Option(
        "strict",
        _bool,
        "refuse invalid requests (422/401) and invalid upstream responses (502)",
        ("record", "proxy"),
        flag=True,
    ),
    Option(
        "alert-webhook",
        _url,
        "POST each new distinct violation here as JSON (Slack-compatible)",
        metavar="URL",
    ),
    Option(
        "alert-window",
        _positive_float,
        "seconds within which a repeated violation alerts once (default 300)",
    ),
    Option(
        "loop",
        _choice(LOOPS),
        "event loop: auto (uvloop when installed, as the `fast` extra does), asyncio, uvloop",
    ),
    # -- issue 13: stateful mock --
    Option(
        "state",
        _choice(STATE_SWITCH),
        "mock remembers what is created, updated and deleted: on or off (default on)",
        ("mock",),
    ),
    Option(
        "state-limit",
        _count,
        "most items kept per collection instance, e.g. per product (default 10000)",
        ("mock",),
        metavar="N",
    ),
)


def _default_spec() -> Path:
    from proxy.spec import shipped_spec_path

    return shipped_spec_path()


@dataclass(frozen=True, slots=True)
class Settings:
    """The resolved configuration of one gateway."""

    mode: str = "mock"
    host: str = "127.0.0.1"
    port: int = 3001
    spec: Path = field(default_factory=_default_spec)
    cassette_dir: Path = Path("cassettes")
    cassette: str | None = None
    log_format: str = "text"
    upstream: str | None = None
    upstream_timeout: float = 30.0
    record_mode: str = "once"
    match_on: tuple[str, ...] = ("method", "path", "query", "body")
    on_miss: str = "error"
    filter_header: tuple[str, ...] = ()
    max_body: int = 1024 * 1024
    admin_token: str | None = None
    strict: bool = False
    alert_webhook: str | None = None
    alert_window: float = 300.0
    loop: str = "auto"
    # -- issue 13: stateful mock --
    state: StateSwitch = "on"
    state_limit: int = 10_000

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def resolve(
    mode: str, flags: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> Settings:
    """Combine parsed flags (raw strings, None when absent) with `PORTAL_PROXY_*` variables.

    Raises `SettingsError` naming the option for any bad value, and for a value that the
    mode requires but nobody gave.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {"mode": mode}
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
        values[option.attr] = value
    if "spec" in values:
        values["spec"] = Path(values["spec"])
    if "cassette_dir" in values:
        values["cassette_dir"] = Path(values["cassette_dir"])
    settings = Settings(**values)
    check(settings)
    return settings


def check(settings: Settings) -> None:
    """Cross-field checks that hold for any way a `Settings` was built."""
    if settings.mode not in MODES:
        raise SettingsError(f"unknown mode {settings.mode!r}; expected one of {', '.join(MODES)}")
    if settings.loop not in LOOPS:
        raise SettingsError(f"--loop: expected one of {', '.join(LOOPS)}, got {settings.loop!r}")
    if settings.state not in STATE_SWITCH:  # issue 13
        raise SettingsError(f"--state: expected on or off, got {settings.state!r}")
    if settings.state_limit < 1:  # issue 13
        raise SettingsError(f"--state-limit: expected at least 1, got {settings.state_limit}")
    if settings.loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        raise SettingsError("--loop: uvloop is not installed; pip install 'portal-proxy[fast]'")
    if settings.mode in ("record", "proxy") and not settings.upstream:
        raise SettingsError(
            f"--upstream is required for `{settings.mode}` (e.g. http://portal:3001)"
        )
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
