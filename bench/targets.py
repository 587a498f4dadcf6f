"""What the bench measures: one `Target` per server, with its command, port and load.

Ports 181xx (the peers harness in ../shared uses 180xx, so both can coexist). The stand-in
upstream (`python -m proxy.standin`) listens on 18190 for every target that forwards; the
same-run comparisons of issues 12-16 add two more stand-ins (`STANDINS`): the same app over
TLS on 18191, and one answering schema-violating 201s on 18192.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import certs
import procs
from loadgen import BODY, TOKEN, Load
from peers import Peer, node_version

from cassettes import write_cassette

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
STANDIN_PORT = 18190
STANDIN = f"http://127.0.0.1:{STANDIN_PORT}"
#: The stand-ins by key: port and scheme. "tls" serves the same app with an ssl context
#: (bench/standin_tls.py), "invalid" answers schema-violating 201s (`--invalid`).
STANDINS = {"plain": (STANDIN_PORT, "http"), "tls": (18191, "https"), "invalid": (18192, "http")}

#: Distinct requests one wrk run cycles through at most (`pool` in post.lua).
POOL = 4096
#: Interactions in the cassettes of the replay targets.
REPLAY_SIZES = {"replay-1": 1, "replay-1k": 1_000, "replay-100k": 100_000}


@dataclass
class Context:
    """What building and preparing the targets needs."""

    workdir: Path  # temporary: cassettes, tapes (removed after the run)
    log_dir: Path
    pin: bool
    prism: Peer | None = None
    talkback: Peer | None = None

    @property
    def python(self) -> str:
        """The interpreter of the project's virtualenv (the one running the bench)."""
        return sys.executable

    @property
    def cli(self) -> list[str]:
        """The `portal-proxy` command as installed next to the interpreter."""
        script = Path(sys.executable).parent / "portal-proxy"
        return [str(script)] if script.exists() else [sys.executable, "-m", "proxy"]

    @property
    def tls_dir(self) -> Path:
        """Where bench/certs.py writes the TLS stand-in's CA and certificate."""
        return self.workdir / "tls"

    @property
    def spec(self) -> Path:
        """The OpenAPI document the project ships (Prism serves the same one)."""
        return REPO / "schemas" / "client_types.yaml"


@dataclass
class Target:
    """One server under test."""

    name: str
    group: str  # "reference", "portal-proxy" or "peer"
    note: str
    port: int
    argv: list[str]
    load: Load
    health: str | None = None  # path that answers 200 when ready; else: port open
    upstream: bool = False  # the stand-in must run while it is measured
    standin: str = "plain"  # which of `STANDINS` it forwards to
    prepare: Callable[[Context], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    skip: str | None = None  # why it is not run (e.g. a peer that could not be installed)
    gateway_args: list[str] = field(default_factory=list)  # `portal-proxy` ARGS, for profiling
    slow_warmup: bool = False  # a JIT runtime (node): twice the warm-up
    expect_header: str | None = None  # a header the first answer must carry (what is measured)
    watch: str | None = None  # an SSE path a client reads during every measured round


def _gateway(
    ctx: Context,
    name: str,
    port: int,
    mode: str,
    *args: str,
    products: int = 1,
    loop: str = "asyncio",
) -> Target:
    # On asyncio's loop unless asked otherwise, like bare-aiohttp: the ratios the issue
    # asks for compare like with like. The *-uvloop targets show what the fast extra adds.
    gateway_args = [mode, "--port", str(port), *args, "--loop", loop]
    return Target(name, "portal-proxy", "", port, [*ctx.cli, *gateway_args],
                  Load(port, products=products), health="/__proxy/health",
                  gateway_args=gateway_args)  # fmt: skip


def _replay(ctx: Context, name: str, port: int, loop: str = "asyncio") -> Target:
    size = REPLAY_SIZES[name.removesuffix("-uvloop")]
    cassettes = ctx.workdir / "cassettes"
    cassette = name.removesuffix("-uvloop")
    target = _gateway(ctx, name, port, "replay", "--cassette-dir", str(cassettes),
                      "--cassette", cassette, products=size, loop=loop)  # fmt: skip
    if size == 1:
        target.note = "cassette of 1 interaction (product 1), the one every request asks for"
    elif size <= POOL:
        target.note = f"cassette of {size:,} interactions; wrk asks for products 1..{size} in turn"
    else:
        target.note = (
            f"cassette of {size:,} interactions; wrk asks in turn for {POOL:,} product ids "
            f"drawn at random from 1..{size:,} (a new draw each run), so every request hits"
        )

    def prepare(ctx: Context) -> None:
        cassettes.mkdir(parents=True, exist_ok=True)
        if not (cassettes / f"{cassette}.yaml").exists():
            write_cassette(cassettes, cassette, size)

    target.prepare = prepare
    return target


def _prism(ctx: Context, name: str, port: int, mode: str) -> Target:
    js = ctx.prism.modules / "@stoplight/prism-cli/dist/index.js" if ctx.prism else Path()
    argv = ["node", str(js), mode, str(ctx.spec)]
    if mode == "proxy":
        argv.append(f"{STANDIN}/portal-api")  # Prism appends the path without the base path
    argv += ["-h", "127.0.0.1", "-p", str(port), "-v", "warn"]
    target = Target(name, "peer", "", port, argv, Load(port, path_prefix=""), slow_warmup=True)
    target.upstream = mode == "proxy"
    target.skip = None if ctx.prism and ctx.prism.version else _why(ctx.prism, "prism-cli")
    target.note = (
        "static examples; -v warn (Prism's default logs every request); URL without "
        "/portal-api (Prism ignores the servers[] base path)"
        if mode == "mock"
        else "validates request and response (sl-violations), forwards to the stand-in "
        "(same core); -v warn"
    )
    return target


def _talkback(ctx: Context, port: int) -> Target:
    tapes = ctx.workdir / "talkback-tapes"
    script = str(HERE / "talkback.js")
    env = {"NODE_PATH": str(ctx.talkback.modules)} if ctx.talkback else {}
    argv = ["node", script, "replay", str(port), str(tapes)]
    target = Target(
        "talkback-replay", "peer", "", port, argv, Load(port), env=env, slow_warmup=True
    )
    target.note = "tape recorded from the stand-in first; no upstream while measured"
    target.skip = None if ctx.talkback and ctx.talkback.version else _why(ctx.talkback, "talkback")

    def prepare(ctx: Context) -> None:
        record_talkback_tape(ctx, port, tapes, script, env)

    target.prepare = prepare
    return target


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _why(peer: Peer | None, label: str) -> str:
    return f"{label} unavailable: {peer.problem if peer else 'not installed'}"


def record_talkback_tape(
    ctx: Context, port: int, tapes: Path, script: str, env: dict[str, str]
) -> None:
    """Record one tape of the bench request through talkback (the stand-in must run)."""
    shutil.rmtree(tapes, ignore_errors=True)
    tapes.mkdir(parents=True)
    argv = ["node", script, "record", str(port), str(tapes), STANDIN]
    recorder = procs.start("talkback-record", argv, ctx.log_dir, pin=ctx.pin, env=env)
    try:
        procs.wait_ready(recorder, port, None, 30)
        status, body = procs.http_status(
            f"http://127.0.0.1:{port}/portal-api/products/1/client_types",
            method="POST",
            body=BODY.encode(),
            headers={"Content-Type": "application/json", "Authorization": TOKEN},
        )
        if status != 201:
            raise RuntimeError(f"talkback record answered {status}: {body[:200]!r}")
        time.sleep(0.5)  # talkback writes the tape after answering
    finally:
        recorder.stop()
    if not any(tapes.iterdir()):
        raise RuntimeError("talkback recorded no tape")


def all_targets(ctx: Context) -> list[Target]:
    """Every target, in the order they are reported."""
    py, bench = ctx.python, HERE
    record_dir = ctx.workdir / "record"
    targets = [
        Target("bare-aiohttp", "reference", "aiohttp, fixed pre-serialised 201, no logic", 18100,
               [py, str(bench / "bare.py"), "--port", "18100"], Load(18100)),
        Target("bare-uvloop", "reference", "bench/bare.py on uvloop (the `fast` extra)", 18108,
               [py, str(bench / "bare.py"), "--port", "18108", "--uvloop"], Load(18108),
               skip=None if _has("uvloop") else "uvloop not installed (pip install -e '.[fast]')"),
        Target("passthrough", "reference",
               "plain aiohttp pass-through to the stand-in (same core), no validation", 18101,
               [py, str(bench / "passthrough.py"), "--port", "18101", "--upstream", STANDIN],
               Load(18101), upstream=True),
        _gateway(ctx, "mock", 18102, "mock"),
        _replay(ctx, "replay-1", 18103),
        _replay(ctx, "replay-1k", 18104),
        _replay(ctx, "replay-100k", 18105),
        _gateway(ctx, "record", 18106, "record", "--upstream", STANDIN, "--cassette-dir",
                 str(record_dir), "--cassette", "bench", "--record-mode", "all"),
        _gateway(ctx, "proxy", 18107, "proxy", "--upstream", STANDIN),
        _gateway(ctx, "mock-uvloop", 18113, "mock", loop="uvloop"),
        _gateway(ctx, "mock-varied", 18115, "mock"),
        _replay(ctx, "replay-1-uvloop", 18114, loop="uvloop"),
        _prism(ctx, "prism-mock", 18110, "mock"),
        _prism(ctx, "prism-proxy", 18111, "proxy"),
        _talkback(ctx, 18112),
        *_same_run(ctx),
    ]  # fmt: skip
    notes = {
        "mock": "synthesized from the spec; validates the request",
        "record": "record-mode all into a fresh cassette; upstream = the stand-in (same core)",
        "proxy": "validates request and response; upstream = the stand-in (same core)",
        "mock-varied": 'mock, a different body per request ({"ID": n}, 4,096 of them): '
        "what the mock costs when no kept body or verdict helps",
    }
    varied = next(t for t in targets if t.name == "mock-varied")
    varied.load = dataclasses.replace(varied.load, vary_body=True)
    no_uvloop = None if _has("uvloop") else "uvloop not installed (pip install -e '.[fast]')"
    for target in targets:
        target.note = target.note or notes.get(target.name, "")
        if target.name.endswith("-uvloop") and target.group == "portal-proxy":
            target.note = f"{target.name.removesuffix('-uvloop')} on uvloop (--loop uvloop)"
            target.skip = target.skip or no_uvloop
        if target.name in ("record", "proxy"):
            target.upstream = True
    return targets


def _same_run(ctx: Context) -> list[Target]:
    from same_run import same_run_targets  # it builds on this module: imported when used

    return same_run_targets(ctx)


def standin_origin(key: str) -> str:
    """scheme://127.0.0.1:port of one of `STANDINS`."""
    port, scheme = STANDINS[key]
    return f"{scheme}://127.0.0.1:{port}"


def standin_argv(ctx: Context, key: str = "plain") -> list[str]:
    """The command of one of `STANDINS` (for "tls": after `certs.make(ctx.tls_dir)`)."""
    port = str(STANDINS[key][0])
    if key == "tls":
        files = certs.paths(ctx.tls_dir)
        return [ctx.python, str(HERE / "standin_tls.py"), "--port", port,
                "--cert", str(files.cert), "--key", str(files.key)]  # fmt: skip
    extra = ["--invalid"] if key == "invalid" else []
    return [ctx.python, "-m", "proxy.standin", "--port", port, *extra]


def source_files() -> dict[str, str]:
    """sha256 of each file of the gateway's source (proxy/ and schemas/), by path: to tell
    runs apart, and to notice the code changing while the bench runs."""
    import hashlib

    paths = sorted([*(REPO / "proxy").rglob("*.py"), *(REPO / "schemas").glob("*")])
    return {str(p.relative_to(REPO)): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def fingerprint(files: dict[str, str]) -> str:
    """One short hash for a `source_files()` result."""
    import hashlib

    return hashlib.sha256(repr(sorted(files.items())).encode()).hexdigest()[:12]


def versions(ctx: Context, source: dict[str, str]) -> dict[str, str]:
    """Versions of the runtimes and peers in this run."""
    from importlib.metadata import PackageNotFoundError, version

    def pkg(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    found = {
        "python": sys.version.split()[0],
        "portal-proxy": f"{pkg('portal-proxy')} (source fingerprint {fingerprint(source)})",
        "aiohttp": pkg("aiohttp"),
        "jsonschema": pkg("jsonschema"),
        "orjson": pkg("orjson"),
        "uvloop": pkg("uvloop"),
    }
    found["node"] = node_version() or "not installed"
    for label, peer in (("prism-cli", ctx.prism), ("talkback", ctx.talkback)):
        found[label] = (peer.version or f"skipped: {peer.problem}") if peer else "not used"
    return found
