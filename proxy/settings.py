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

Mode = Literal["mock", "replay", "record", "proxy"]
RecordMode = Literal["once", "new_episodes", "all", "none"]
OnMiss = Literal["error", "mock"]
LogFormat = Literal["text", "json"]
Loop = Literal["auto", "asyncio", "uvloop"]
Cors = Literal["auto", "on", "off"]  # issue 12
OnOff = Literal["on", "off"]  # issue 12

MODES: tuple[Mode, ...] = get_args(Mode)
RECORD_MODES: tuple[RecordMode, ...] = get_args(RecordMode)
ON_MISS: tuple[OnMiss, ...] = get_args(OnMiss)
LOG_FORMATS: tuple[LogFormat, ...] = get_args(LogFormat)
LOOPS: tuple[Loop, ...] = get_args(Loop)
CORS: tuple[Cors, ...] = get_args(Cors)  # issue 12
ON_OFF: tuple[OnOff, ...] = get_args(OnOff)  # issue 12
#: The longest simulated latency, in milliseconds (`--latency`, `Prefer: delay=`): a minute.
MAX_DELAY_MS = 60_000
#: VCR.py's default matchers, less `scheme`, `host` and `port` (the upstream is configured).
DEFAULT_MATCH_ON = ("method", "path", "query", "body")
ENV_PREFIX = "PORTAL_PROXY_"


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


def _text(text: str) -> str:
    return text


# -- issue 12: browser apps (CORS, access log, simulated latency) ---------------------------


def delay_ms(text: str) -> int:
    """A delay in whole milliseconds, 0 to `MAX_DELAY_MS` (`--latency`, `Prefer: delay=`)."""
    stripped = text.strip()
    if not stripped.isdigit():
        raise ValueError(f"expected milliseconds 0-{MAX_DELAY_MS}, got {text!r}")
    value = int(stripped)
    if value > MAX_DELAY_MS:
        raise ValueError(f"{value} ms is above the limit of {MAX_DELAY_MS} ms")
    return value


def _latency(text: str) -> tuple[int, int]:
    low, dash, high = text.partition("-")
    if not dash:
        value = delay_ms(text)
        return value, value
    low_ms, high_ms = delay_ms(low), delay_ms(high)
    if low_ms > high_ms:
        raise ValueError(f"MIN-MAX with MIN {low_ms} above MAX {high_ms}, got {text!r}")
    return low_ms, high_ms


def _origins(text: str) -> tuple[str, ...]:
    """Comma-separated origins (`scheme://host[:port]`), lower-cased as browsers send them."""
    origins = []
    for item in _list(text):
        parts = urlsplit(item)
        if not parts.scheme or not parts.netloc or parts.path not in ("", "/"):
            raise ValueError(f"expected an origin such as http://127.0.0.1:8080, got {item!r}")
        if parts.query or parts.fragment or "@" in parts.netloc:
            raise ValueError(f"an origin has no query, fragment or user, got {item!r}")
        origins.append(f"{parts.scheme}://{parts.netloc}".lower())
    return tuple(origins)


@dataclass(frozen=True, slots=True)
class Option:
    """One command-line option: `--name`, its parser, help, and the modes that take it."""

    name: str
    parse: Callable[[str], Any]
    help: str
    default: Any = None
    modes: tuple[Mode, ...] = MODES
    flag: bool = False  # a switch with no value
    repeat: bool = False  # may be given several times (values are joined)
    metavar: str | None = None
    shown: str | None = None  # the default as help and README show it, when not `default`

    @property
    def default_text(self) -> str | None:
        """The default as the help text and the README's table show it (None: no default)."""
        if self.shown is not None:
            return self.shown
        if self.default is None or self.default is False:
            return None
        if isinstance(self.default, tuple):
            return ",".join(self.default)
        return f"{self.default:g}" if isinstance(self.default, float) else str(self.default)

    @property
    def full_help(self) -> str:
        """The help text, with the default and the environment variable."""
        default = self.default_text
        shown = f" (default {default})" if default is not None else ""
        return f"{self.help}{shown} [env {self.env}]"

    @property
    def env(self) -> str:
        """The environment variable that sets this option."""
        return ENV_PREFIX + self.name.upper().replace("-", "_")

    @property
    def attr(self) -> str:
        """The `Settings` field this option fills."""
        return self.name.replace("-", "_")


OPTIONS: tuple[Option, ...] = (
    Option("host", _text, "address to listen on", "127.0.0.1"),
    Option("port", _port, "port to listen on; 0 picks a free one", 3001),
    Option(
        "spec",
        _text,
        "OpenAPI 3.1 document",
        metavar="FILE",
        shown="the shipped client_types spec",
    ),
    Option("cassette-dir", _text, "folder of cassettes", "cassettes", metavar="DIR"),
    Option(
        "cassette",
        _text,
        "cassette name: the file <cassette-dir>/<NAME>.yaml",
        metavar="NAME",
        shown="record: default",
    ),
    Option("log-format", _choice(LOG_FORMATS), "log lines as text or json", "text"),
    Option(
        "upstream",
        _url,
        "the portal's origin, e.g. http://portal:3001",
        modes=("record", "proxy"),
        metavar="URL",
    ),
    Option(
        "upstream-timeout",
        _positive_float,
        "seconds to wait for the upstream",
        30.0,
        modes=("record", "proxy"),
    ),
    Option(
        "record-mode",
        _choice(RECORD_MODES),
        "VCR.py record mode: once, new_episodes, all, none",
        "once",
        modes=("record",),
    ),
    Option(
        "match-on",
        _list,
        "VCR.py matchers, comma separated",
        DEFAULT_MATCH_ON,
        modes=("mock", "replay", "record"),
        metavar="M1,M2",
    ),
    Option(
        "on-miss",
        _choice(ON_MISS),
        "what a replay miss does: error (404) or mock",
        "error",
        modes=("replay",),
    ),
    Option(
        "filter-header",
        _list,
        "another header to redact in cassettes and logs (repeatable)",
        (),
        modes=("record", "proxy"),
        repeat=True,
        metavar="NAME",
    ),
    Option(
        "max-body",
        _size,
        "largest request body accepted, in bytes",
        1024 * 1024,
        shown="1m",
    ),
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
        False,
        modes=("record", "proxy"),
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
        "seconds within which a repeated violation alerts once",
        300.0,
    ),
    Option(
        "loop",
        _choice(LOOPS),
        "event loop: auto (uvloop when installed, as the `fast` extra does), asyncio, uvloop",
        "auto",
    ),
    # -- issue 12: browser apps ---------------------------------------------------------
    Option(
        "cors",
        _choice(CORS),
        "answer browsers' CORS: auto (on in mock and replay, off in record and proxy), on, off",
        "auto",
    ),
    Option(
        "cors-origin",
        _origins,
        "an origin allowed by CORS (repeatable); none given: any origin, echoed",
        (),
        repeat=True,
        metavar="ORIGIN",
        shown="any",
    ),
    Option("access-log", _choice(ON_OFF), "one log line per request on stderr: on, off", "on"),
    Option(
        "latency",
        _latency,
        "delay every answer by MS, or uniformly MIN-MAX, milliseconds (`Prefer: delay=MS` "
        "per request)",
        (0, 0),
        modes=("mock", "replay"),
        metavar="MS|MIN-MAX",
        shown="0",
    ),
)

#: The options by their `Settings` field name.
BY_ATTR: dict[str, Option] = {option.attr: option for option in OPTIONS}


def default(attr: str) -> Any:
    """The default of the option that fills the `Settings` field `attr` (written once)."""
    return BY_ATTR[attr].default


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
    # -- issue 12: browser apps
    cors: Cors = default("cors")
    cors_origin: tuple[str, ...] = default("cors_origin")
    access_log: OnOff = default("access_log")
    latency: tuple[int, int] = default("latency")  # (min, max) milliseconds

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
    if settings.cors not in CORS:
        raise SettingsError(f"--cors: expected one of {', '.join(CORS)}, got {settings.cors!r}")
    if settings.access_log not in ON_OFF:
        raise SettingsError(f"--access-log: expected on or off, got {settings.access_log!r}")
    low, high = settings.latency
    if not 0 <= low <= high <= MAX_DELAY_MS:
        raise SettingsError(
            f"--latency: expected 0 <= MIN <= MAX <= {MAX_DELAY_MS} ms, got {low}-{high}"
        )
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
