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

from proxy import values

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
#: VCR.py's default matchers, less `scheme`, `host` and `port` (the upstream is configured).
DEFAULT_MATCH_ON = ("method", "path", "query", "body")
ENV_PREFIX = "PORTAL_PROXY_"
StateSwitch = Literal["on", "off"]  # issue 13: stateful mock
STATE_SWITCH: tuple[StateSwitch, ...] = get_args(StateSwitch)


class SettingsError(ValueError):
    """A bad option value; the message names the option and what was expected."""


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
        if self.default is None or self.default is False or self.default == ():
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
    Option("host", values.text, "address to listen on", "127.0.0.1"),
    Option("port", values.port, "port to listen on; 0 picks a free one", 3001),
    Option(
        "spec",
        values.text,
        "OpenAPI 3.1 document; Tyk's whole portal spec works too",
        metavar="FILE",
        shown="schemas/client_types.yaml, shipped",
    ),
    Option("cassette-dir", values.text, "folder of cassettes", "cassettes", metavar="DIR"),
    Option(
        "cassette",
        values.text,
        "the cassette file <cassette-dir>/<NAME>.yaml",
        metavar="NAME",
        shown="default, when recording",
    ),
    Option(
        "log-format",
        values.choice(LOG_FORMATS),
        "log lines as `text` or `json` (one JSON object per line)",
        "text",
    ),
    Option(
        "upstream",
        values.url,
        "the portal's origin, e.g. http://portal:3001 (a trailing /portal-api is accepted)",
        modes=("record", "proxy"),
        shown="required",
        metavar="URL",
    ),
    Option(
        "upstream-timeout",
        values.positive_float,
        "seconds to wait for the upstream; a timeout is a 504, a refused connection a 502",
        30.0,
        modes=("record", "proxy"),
    ),
    Option(
        "record-mode",
        values.choice(RECORD_MODES),
        "VCR.py's record mode: once, new_episodes, all or none",
        "once",
        modes=("record",),
    ),
    Option(
        "match-on",
        values.comma_list,
        "VCR.py matcher names, comma separated: method, scheme, host, port, path, query, "
        "body (JSON compared as data), raw_body, headers, uri",
        DEFAULT_MATCH_ON,
        modes=("mock", "replay", "record"),
        metavar="M1,M2",
    ),
    Option(
        "on-miss",
        values.choice(ON_MISS),
        "what a replay miss does: `error` (404 problem+json naming the nearest recordings) "
        "or `mock`",
        "error",
        modes=("replay",),
    ),
    Option(
        "filter-header",
        values.comma_list,
        "another header to redact in cassettes and logs (repeatable)",
        (),
        modes=("record", "proxy"),
        repeat=True,
        metavar="NAME",
    ),
    Option(
        "max-body",
        values.size,
        "largest request body, in bytes (512k, 1m...); larger is a 413 before it is read",
        1024 * 1024,
        shown="1m",
    ),
    Option(
        "admin-token",
        values.text,
        "require `Authorization: Bearer T` on the /__proxy/ endpoints but health",
        metavar="T",
    ),
    Option(
        "strict",
        values.boolean,
        "refuse invalid requests (401/422, not forwarded) and replace invalid upstream "
        "responses by a 502",
        False,
        modes=("record", "proxy"),
        flag=True,
    ),
    Option(
        "alert-webhook",
        values.url,
        "POST each new distinct violation here as JSON, with a Slack-compatible `text`",
        metavar="URL",
    ),
    Option(
        "alert-window",
        values.positive_float,
        "seconds within which a repeated violation alerts once",
        300.0,
    ),
    Option(
        "loop",
        values.choice(LOOPS),
        "event loop: `auto` takes uvloop when installed (the `fast` extra), else asyncio's; "
        "`asyncio`; `uvloop`",
        "auto",
    ),
    # -- issue 14: upstream TLS (files are checked in `check`, through `proxy.tls`) ----------
    Option(
        "upstream-ca",
        values.pem("CA certificates"),
        "PEM file of CA certificates trusted for the upstream, in addition to the system's",
        modes=("record", "proxy"),
        metavar="FILE",
    ),
    Option(
        "upstream-insecure",
        values.boolean,
        "do not verify the upstream's TLS certificate (a warning is logged at start)",
        False,
        modes=("record", "proxy"),
        flag=True,
    ),
    Option(
        "upstream-cert",
        values.pem("a certificate"),
        "PEM client certificate presented to the upstream (with --upstream-key)",
        modes=("record", "proxy"),
        metavar="FILE",
    ),
    Option(
        "upstream-key",
        values.pem("a private key"),
        "PEM private key of --upstream-cert (not encrypted)",
        modes=("record", "proxy"),
        metavar="FILE",
    ),
    # Issue 16: the violations page keeps the last N violating exchanges, redacted.
    Option(
        "keep-exchanges",
        values.count,
        "violating exchanges kept (redacted, bodies cut at 64 KiB) for the violations page",
        1000,
        metavar="N",
    ),
    # -- issue 12: browser apps ---------------------------------------------------------
    Option(
        "cors",
        values.choice(CORS),
        "answer browsers' CORS: auto (on in mock and replay, off in record and proxy), on, off",
        "auto",
    ),
    Option(
        "cors-origin",
        values.origins,
        "an origin allowed by CORS (repeatable); none given: any origin, echoed",
        (),
        repeat=True,
        metavar="ORIGIN",
        shown="any",
    ),
    Option(
        "access-log", values.choice(ON_OFF), "one log line per request on stderr: on, off", "on"
    ),
    Option(
        "latency",
        values.latency,
        "delay every answer by MS, or uniformly MIN-MAX, milliseconds (`Prefer: delay=MS` "
        "per request)",
        (0, 0),
        modes=("mock", "replay"),
        metavar="MS|MIN-MAX",
        shown="0",
    ),
    # -- issue 13: stateful mock --
    Option(
        "state",
        values.choice(STATE_SWITCH),
        "the mock remembers what is created, updated and deleted: on, off",
        "on",
        modes=("mock",),
    ),
    Option(
        "state-limit",
        values.positive_count,
        "most items kept per collection instance (e.g. per product); beyond it, a 507",
        10_000,
        modes=("mock",),
        metavar="N",
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
    # -- issue 14: upstream TLS, and readiness ------------------------------------------------
    upstream_ca: Path | None = None
    upstream_insecure: bool = default("upstream_insecure")
    upstream_cert: Path | None = None
    upstream_key: Path | None = None
    #: Seconds between readiness probes of the upstream; no option (operators have no need
    #: to change it), set by tests that watch readiness change.
    ready_interval: float = 5.0
    # Issue 16: the violations page.
    keep_exchanges: int = default("keep_exchanges")
    # -- issue 12: browser apps
    cors: Cors = default("cors")
    cors_origin: tuple[str, ...] = default("cors_origin")
    access_log: OnOff = default("access_log")
    latency: tuple[int, int] = default("latency")  # (min, max) milliseconds
    # -- issue 13: stateful mock
    state: StateSwitch = default("state")
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
    if settings.state not in STATE_SWITCH:  # issue 13
        raise SettingsError(f"--state: expected on or off, got {settings.state!r}")
    if settings.state_limit < 1:  # issue 13
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
        client_context(settings)  # issue 14: missing, unreadable or non-PEM files, at start
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
