"""Every option of every mode, in one table: its name, parser, default, help and modes.

The default of each option is written once, here (`Option.default`); the `Settings`
dataclass, `--help`, `portal-proxy check` and the README's table (`python -m proxy.docs`)
all read it from this table. The variable that sets an option is `PORTAL_PROXY_` + its name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from proxy import values

Mode = Literal["mock", "replay", "record", "proxy"]
RecordMode = Literal["once", "new_episodes", "all", "none"]
OnMiss = Literal["error", "mock"]
LogFormat = Literal["text", "json"]
Loop = Literal["auto", "asyncio", "uvloop"]
Cors = Literal["auto", "on", "off"]
OnOff = Literal["on", "off"]

MODES: tuple[Mode, ...] = get_args(Mode)
RECORD_MODES: tuple[RecordMode, ...] = get_args(RecordMode)
ON_MISS: tuple[OnMiss, ...] = get_args(OnMiss)
LOG_FORMATS: tuple[LogFormat, ...] = get_args(LogFormat)
LOOPS: tuple[Loop, ...] = get_args(Loop)
CORS: tuple[Cors, ...] = get_args(Cors)
ON_OFF: tuple[OnOff, ...] = get_args(OnOff)
#: The longest simulated latency, in milliseconds (`--latency`, `Prefer: delay=`): a minute.
#: VCR.py's default matchers, less `scheme`, `host` and `port` (the upstream is configured).
DEFAULT_MATCH_ON = ("method", "path", "query", "body")
ENV_PREFIX = "PORTAL_PROXY_"


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
    # -- upstream TLS (files are checked in `check`, through `proxy.tls`) ----------
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
    # The violations page keeps the last N violating exchanges, redacted.
    Option(
        "keep-exchanges",
        values.count,
        "violating exchanges kept (redacted, bodies cut at 64 KiB) for the violations page",
        1000,
        metavar="N",
    ),
    # -- browser apps ---------------------------------------------------------
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
    # -- stateful mock --
    Option(
        "state",
        values.choice(ON_OFF),
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
