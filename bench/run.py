"""Benchmark portal-proxy against bare aiohttp, a plain pass-through, Prism and talkback.

Run: `.venv/bin/python bench/run.py [--quick] [--only NAME,...] [--out DIR]` (~23 min;
--quick ~5 min). Writes bench/RESULTS.md, bench/results.json and, when matplotlib is
installed, the charts (into DIR instead with --out).

Method (after ../shared/peers/bench.sh): wrk with bench/post.lua on core 0, every server on
core 1 (taskset). All targets are started and warmed up first; then the measured rounds are
interleaved (round 1 of every target, round 2 of every target, ...) at c=32, then at c=1, so
that the noise of this shared VM hits every target alike and the ratios stay comparable.
Loopback only; every step is bounded in time.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import datetime as dt
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the sibling modules, also when imported from elsewhere

import certs  # noqa: E402
import cpu  # noqa: E402
import extras  # noqa: E402
import hotspots  # noqa: E402
import loadgen  # noqa: E402
import peers  # noqa: E402
import procs  # noqa: E402
import report  # noqa: E402
from results import CONC, TargetResult  # noqa: E402
from stream_client import StreamClient  # noqa: E402
from targets import (  # noqa: E402
    STANDIN_PORT,
    STANDINS,
    Context,
    Target,
    all_targets,
    fingerprint,
    source_files,
    standin_argv,
    versions,
)

EXTRAS = ("startup", "load", "tenths", "profile")


@dataclass(frozen=True)
class Plan:
    """How long everything runs."""

    warmup: tuple[int, ...]  # seconds per warm-up chunk at c=32; the first is the 'cold' one
    rounds: int
    seconds: int  # per round at c=32
    seconds_c1: int  # per round at c=1
    record_total: int  # requests of the fixed-count recording run
    repeat: int  # start-up and cassette-load repetitions
    profile_seconds: int  # 0: no profiles
    redo: int = 2  # times a round is done again when other processes disturbed it
    redo_budget_s: int = 90  # wall time all the redone rounds together may take
    quiet_wait_s: int = 180  # how long to wait at the start for the machine to calm down

    def describe(self) -> str:
        """The plan in words, for the report."""
        return (
            f"warm-up {sum(self.warmup)} s at c={CONC} per target (twice that for the Node "
            "peers; discarded), then "
            f"{self.rounds} interleaved rounds of {self.seconds} s at c={CONC} and "
            f"{self.rounds} of {self.seconds_c1} s at c=1"
        )

    def estimate_s(self, n_targets: int) -> int:
        """Rough wall time of the target runs."""
        return n_targets * (sum(self.warmup) + self.rounds * (self.seconds + self.seconds_c1) + 3)


FULL = Plan((5, 5), rounds=3, seconds=10, seconds_c1=5, record_total=20_000, repeat=5,
            profile_seconds=8)  # fmt: skip
QUICK = Plan((2,), rounds=3, seconds=2, seconds_c1=1, record_total=5_000, repeat=3,
             profile_seconds=0, redo=1, redo_budget_s=15, quiet_wait_s=20)  # fmt: skip


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Live:
    """A started target and its result so far."""

    target: Target
    server: procs.Server
    result: TargetResult


class Bench:
    """One run: the servers it started, the load generator, the results."""

    def __init__(self, ctx: Context, plan: Plan, wrk: str | None) -> None:
        """Nothing is started yet."""
        self.ctx, self.plan, self.wrk = ctx, plan, wrk
        self.started: list[procs.Server] = []
        self.redo_left = float(plan.redo_budget_s)
        self.notes: list[str] = []  # for the report's "problems" section
        self.loaded_source: dict[str, str] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> procs.Server:
        """Start a server on the server core and remember it for `stop_all`."""
        server = procs.start(name, argv, self.ctx.log_dir, pin=self.ctx.pin, env=env)
        self.started.append(server)
        return server

    def stop_all(self) -> None:
        """Stop every server this run started, newest first."""
        while self.started:
            self.started.pop().stop()

    def load(self, live: Live, conc: int, seconds: int, tag: str) -> loadgen.Run | None:
        """One load-generator run against a live target."""
        log_path = self.ctx.log_dir / f"{live.target.name}.{tag}.wrk"
        return loadgen.run_load(self.wrk, live.target.load, conc, seconds, pin=self.ctx.pin,
                                log_path=log_path)  # fmt: skip

    # --- bring-up -------------------------------------------------------------------------

    def bring_up(self, target: Target) -> Live | TargetResult:
        """Prepare, start, check and warm up one target; a failed or skipped result if not."""
        result = TargetResult(target.name, target.group, target.note)
        if target.skip:
            result.status = f"skipped: {target.skip}"
            return result
        log(f"=== {target.name}: starting")
        try:
            if target.prepare:
                target.prepare(self.ctx)
            server = self.start(target.name, target.argv, target.env)
            health = f"http://127.0.0.1:{target.port}{target.health}" if target.health else None
            result.ready_s = procs.wait_ready(server, target.port, health, 60)
            self.smoke(target)
        except (RuntimeError, OSError, ValueError) as exc:
            result.status = f"failed: {exc}"
            log(f"{target.name}: {result.status}")
            return result
        result.rss_idle_kb = procs.tree_rss_kb(server.pid)
        live = Live(target, server, result)
        self.warm_up(live)
        return live

    def smoke(self, target: Target) -> None:
        """One request (as the load sends it) must answer 201, with `expect_header` if the
        target names one, before the target is measured."""
        load = target.load
        headers = {"Content-Type": "application/json", "Authorization": loadgen.TOKEN}
        if load.origin:
            headers["Origin"] = load.origin
        status, body, got = procs.http_response(
            f"http://127.0.0.1:{target.port}{load.path_prefix}/products/1/client_types",
            method="POST",
            body=loadgen.BODY.encode(),
            headers=headers,
        )
        if status != 201:
            raise RuntimeError(f"first request answered {status}, not 201: {body[:300]!r}")
        if target.expect_header and target.expect_header.lower() not in got:
            raise RuntimeError(f"first answer has no {target.expect_header} header: {got}")

    def warm_up(self, live: Live) -> None:
        """Unmeasured load at c=32; the req/s of each chunk is kept (the first is 'cold')."""
        chunks = self.plan.warmup * (2 if live.target.slow_warmup else 1)
        for i, seconds in enumerate(chunks):
            run = self.load(live, CONC, seconds, f"warmup{i}")
            live.result.warmup_rps.append(run.rps if run else 0.0)
        log(f"{live.target.name}: warm-up req/s {[round(x) for x in live.result.warmup_rps]}")

    # --- measurement ----------------------------------------------------------------------

    def measure(self, lives: list[Live], standins: dict[str, procs.Server]) -> None:
        """Interleaved rounds at c=32, then at c=1, with the CPU use of each."""
        for conc in (CONC, 1):
            usage = {live.target.name: cpu.Usage() for live in lives}
            for r in range(self.plan.rounds):
                for live in lives:
                    if live.result.status == "ok":
                        usage[live.target.name] += self.round(live, conc, r, standins)
            for live in lives:
                live.result.cpu[conc] = usage[live.target.name].percent()

    def round(self, live: Live, conc: int, r: int, standins: dict[str, procs.Server]) -> cpu.Usage:
        """One measured run, done again (up to `plan.redo` times) when other processes took
        much of either core meanwhile; returns the CPU used during the run kept."""
        standin = standins.get(live.target.standin) if live.target.upstream else None
        upstream = standin.pid if standin else None
        seconds = self.plan.seconds if conc == CONC else self.plan.seconds_c1
        kept: loadgen.Run | None = None
        used = cpu.Usage()
        for attempt in range(self.plan.redo + 1):
            try:
                watcher = self.watch(live)
            except RuntimeError as exc:
                live.result.status = f"failed: in c={conc} round {r + 1}: {exc}"
                log(f"{live.target.name}: {live.result.status}")
                return used
            before = cpu.snapshot(live.server.pid, upstream)
            run = self.load(live, conc, seconds, f"c{conc}.r{r + 1}.{attempt}")
            if watcher:  # stopped (and reaped) before the snapshot: its CPU counts as ours
                self.unwatch(live, watcher, run)
            used = cpu.snapshot(live.server.pid, upstream) - before
            if run is None or not live.server.alive():
                live.result.status = f"failed: in c={conc} round {r + 1}: {live.server.log_tail()}"
                log(f"{live.target.name}: {live.result.status}")
                return used
            kept, others = run, cpu.others(used)
            log(
                f"{live.target.name} c={conc} round {r + 1}: {run.rps:.0f} req/s, p99 "
                f"{run.p99_ms:.2f} ms, non-2xx {run.non2xx}, socket errors {run.sock_errors}; "
                f"others {others:.0f} % of a core"
            )
            if others <= cpu.DISTURBED_PCT or attempt == self.plan.redo or self.redo_left < 0:
                break
            self.redo_left -= seconds
            live.result.redone += 1
            log(f"{live.target.name}: other processes took {others:.0f} % of a core: once more")
        if kept is not None:
            live.result.runs.setdefault(conc, []).append(kept)
        return used

    def watch(self, live: Live) -> StreamClient | None:
        """Attach a client to the target's `watch` stream (None if it names none)."""
        if not live.target.watch:
            return None
        url = f"http://127.0.0.1:{live.target.port}{live.target.watch}"
        return StreamClient.start(url, pin=self.ctx.pin)

    def unwatch(self, live: Live, watcher: StreamClient, run: loadgen.Run | None) -> None:
        """Stop the stream client; add what it read to the target's result."""
        events, reconnects = watcher.stop()
        res = live.result
        res.stream_events = (res.stream_events or 0) + events
        res.stream_reconnects += reconnects
        res.stream_requests += run.requests if run else 0

    def start_standins(self, targets: list[Target]) -> dict[str, procs.Server]:
        """Start the stand-ins the targets forward to; a target whose stand-in did not
        start is skipped, saying why."""
        keys = {t.standin for t in targets if t.upstream and not t.skip}
        if any(t.name == "talkback-replay" and not t.skip for t in targets):
            keys.add("plain")  # its tape is recorded from the stand-in
        standins: dict[str, procs.Server] = {}
        for key in sorted(keys):
            name = "standin" if key == "plain" else f"standin-{key}"
            try:
                if key == "tls":
                    certs.make(self.ctx.tls_dir)
                server = self.start(name, standin_argv(self.ctx, key))
                procs.wait_ready(server, STANDINS[key][0], None, 30)
                standins[key] = server
            except (RuntimeError, OSError, ValueError) as exc:
                log(f"{name}: did not start: {exc}")
                for t in targets:
                    if t.upstream and t.standin == key and not t.skip:
                        t.skip = f"its stand-in upstream ({name}) did not start: {exc}"
        return standins

    def run_targets(self, targets: list[Target]) -> dict[str, TargetResult]:
        """Bring every target up, measure them interleaved, read RSS, stop them."""
        standins = self.start_standins(targets)
        ups = [self.bring_up(t) for t in targets]
        self.loaded_source = source_files()  # what the servers just started have loaded
        lives = [u for u in ups if isinstance(u, Live)]
        log(f"measuring {len(lives)} targets: {self.plan.describe()}")
        self.measure(lives, standins)
        for live in lives:
            if live.result.stream_events is not None:
                log(f"{live.target.name}: the stream client read {live.result.stream_events} "
                    f"events for {live.result.stream_requests} requests")  # fmt: skip
        for live in lives:
            if live.server.alive():
                live.result.rss_after_kb = procs.tree_rss_kb(live.server.pid)
            else:
                self.notes.append(
                    f"{live.target.name} exited (code {live.server.proc.returncode}) after its "
                    f"last round, before its memory was read: {live.server.log_tail()}"
                )
        self.stop_all()
        return {(u.result if isinstance(u, Live) else u).name: (
            u.result if isinstance(u, Live) else u) for u in ups}  # fmt: skip


# --- the measures that are not a steady load ----------------------------------------------


def run_extras(
    bench: Bench, targets: dict[str, Target], wanted: set[str], rep: report.Report
) -> None:
    """Start-up, cassette loading, recording over time and profiles, as asked.

    Each is attempted on its own: a failure is noted in the report and the rest still runs.
    """
    ctx, plan = bench.ctx, bench.plan
    steps: list[tuple[str, str, Callable[[], None]]] = []
    for name in ("bare-aiohttp", "mock"):
        t = targets[name]

        def startup(t: Target = t) -> None:
            rep.startup[t.name] = extras.startup(f"startup-{t.name}", t.argv, t.port,
                                                 ctx.log_dir, ctx.pin, plan.repeat)  # fmt: skip

        steps.append(("startup", f"start-up to first 201: {name}", startup))
    for name in ("replay-1", "replay-100k"):
        t = targets[name]

        def load(t: Target = t) -> None:
            if t.prepare:
                t.prepare(ctx)
            rep.loads[t.name] = extras.cassette_load(f"load-{t.name}", t.argv, t.port,
                                                     ctx.log_dir, ctx.pin, plan.repeat)  # fmt: skip

        steps.append(("load", f"cassette load: {name}", load))

    def tenths() -> None:
        rep.tenths = record_tenths(bench, targets["record"])

    steps.append(("tenths", f"record: {plan.record_total:,} requests, req/s per tenth", tenths))
    if plan.profile_seconds and hotspots.available():
        for name in ("mock", "replay-1", "replay-100k", "proxy"):

            def profile(name: str = name) -> None:
                rep.profiles[name] = hotspots.profile_mode(
                    name, ctx.workdir / f"profile-{name}", plan.profile_seconds, ctx.pin,
                    log_dir=ctx.log_dir,
                )  # fmt: skip

            steps.append(("profile", f"profile: {name}", profile))
    for kind, label, step in steps:
        if kind in wanted:
            attempt(rep, label, step)
        bench.stop_all()


def attempt(rep: report.Report, label: str, step: Callable[[], None]) -> None:
    """Run one extra measure; a failure becomes a line of the report."""
    log(label)
    try:
        step()
    except (RuntimeError, OSError, ValueError, KeyError) as exc:
        rep.problems.append(f"{label} failed: {exc}")
        log(f"{label} failed: {exc}")


def record_tenths(bench: Bench, record: Target) -> extras.Tenths:
    """A fresh `record` server through `record_total` distinct requests (stand-in running)."""
    ctx = bench.ctx
    directory = ctx.workdir / "record-tenths"
    argv = [a if a != str(ctx.workdir / "record") else str(directory) for a in record.argv]
    standin = bench.start("standin-tenths", standin_argv(ctx))
    try:
        procs.wait_ready(standin, STANDIN_PORT, None, 30)
        return extras.record_tenths(argv, record.port, directory / "bench.yaml", ctx.log_dir,
                                    ctx.pin, bench.plan.record_total)  # fmt: skip
    finally:
        bench.stop_all()


# --- the command line ---------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    """--quick and --only."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short rounds (~3 min): a smoke run")
    parser.add_argument(
        "--only",
        type=lambda s: {x.strip() for x in s.split(",") if x.strip()},
        default=None,
        help="comma-separated targets and extras to run (default: all). Targets: "
        "bare-aiohttp, bare-uvloop, passthrough, mock, replay-1, replay-1k, replay-100k, "
        "record, proxy, mock-uvloop, mock-varied, replay-1-uvloop, prism-mock, prism-proxy, "
        "talkback-replay, mock-quiet, mock-cors, mock-stateless, passthrough-https, "
        f"proxy-https, proxy-violating, proxy-watched. Extras: {', '.join(EXTRAS)}",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=HERE,
        help="folder for RESULTS.md, results.json and the charts (default: bench/; use "
        "another one for trial runs, so the committed results stay as they are)",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def prepare_peers(ctx: Context, wanted: set[str] | None) -> None:
    """Install Prism and talkback outside the repository when a peer target is wanted."""
    if wanted is None or wanted & {"prism-mock", "prism-proxy"}:
        log("peers: Prism (npm, outside the repo)")
        ctx.prism = peers.ensure("@stoplight/prism-cli", "prism")
    if wanted is None or "talkback-replay" in wanted:
        log("peers: talkback (npm, outside the repo)")
        ctx.talkback = peers.ensure("talkback", "talkback")


@contextlib.contextmanager
def workspace() -> Iterator[tuple[Path, Path]]:
    """A temporary folder for cassettes and tapes, and a raw-log folder under bench/raw/."""
    log_dir = HERE / "raw" / dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    log_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="portal-proxy-bench-"))
    try:
        yield workdir, log_dir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    """Run the bench and write the report."""
    args = parse_args()
    plan = QUICK if args.quick else FULL
    t0 = time.perf_counter()
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    pin = procs.pinning_works()
    if pin:  # the bench's own Python work (polling, the fixed-count client) stays off core 1
        os.sched_setaffinity(0, {procs.LOAD_CPU})
    wrk = loadgen.ensure_wrk()
    # Byte-compile the package as `pip install` does: where PYTHONDONTWRITEBYTECODE is set
    # (this kind of VM sets it), every start would otherwise compile it (~0.1 s of start-up).
    compileall.compile_dir(str(HERE.parent / "proxy"), quiet=1)
    with workspace() as (workdir, log_dir):
        ctx = Context(workdir=workdir, log_dir=log_dir, pin=pin)
        prepare_peers(ctx, args.only)
        every = all_targets(ctx)
        chosen = [t for t in every if args.only is None or t.name in args.only]
        wanted_extras = set(EXTRAS) if args.only is None else set(EXTRAS) & args.only
        log(f"load generator: {loadgen.wrk_version(wrk)}; pinning: {pin}; logs: {log_dir}; "
            f"target runs ~{plan.estimate_s(len(chosen)) / 60:.0f} min")  # fmt: skip
        bench = Bench(ctx, plan, wrk)
        busy_note = wait_for_quiet(plan.quiet_wait_s)
        source = source_files()
        try:
            results = bench.run_targets(chosen)
            rep = report.Report(
                command=shlex.join(["bench/run.py", *sys.argv[1:]]),
                started=started, minutes=0.0, pin=pin,
                loadgen=f"{loadgen.wrk_version(wrk)} + bench/post.lua, 1 thread, closed loop",
                plan=plan.describe(), versions=versions(ctx, source), results=results,
            )  # fmt: skip
            rep.problems += ([busy_note] if busy_note else []) + bench.notes
            run_extras(bench, {t.name: t for t in every}, wanted_extras, rep)
            rep.problems += source_changes(source, bench.loaded_source, source_files())
        finally:
            bench.stop_all()
    rep.minutes = (time.perf_counter() - t0) / 60
    report.write(rep, args.out)  # results.json first: the charts are drawn from it
    rep.charts = draw_charts(rep, args.out)
    path = report.write(rep, args.out)
    log(f"wrote {path} in {rep.minutes:.1f} min")
    return 0


def source_changes(start: dict[str, str], loaded: dict[str, str], end: dict[str, str]) -> list[str]:
    """Notes for the report when the gateway's source changed while the bench ran.

    A server loads the code when it starts, so what matters for the measured targets is
    whether the source changed before the last of them had started and warmed up.
    """

    def changed(a: dict[str, str], b: dict[str, str]) -> str:
        return ", ".join(sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k)))

    if loaded and loaded != start:
        return [
            f"the gateway's source changed while the targets were being started "
            f"({changed(start, loaded)}): they may not all run the same code"
        ]
    if end != start:
        return [
            f"the gateway's source changed after every target had started "
            f"({changed(start, end)}): the measured targets ran {fingerprint(start)}, the "
            f"start-up, cassette-load, recording and profile measures (new processes) "
            f"{fingerprint(end)}"
        ]
    return []


def wait_for_quiet(max_wait_s: int, limit: float = 0.15) -> str | None:
    """Wait (at most `max_wait_s`) until other processes leave the machine mostly idle.

    Returns a note for the report when the run had to start on a busy machine.
    """
    deadline = time.perf_counter() + max_wait_s
    while True:
        busy = procs.machine_busy(3)
        if busy <= limit:
            return None
        if time.perf_counter() > deadline:
            return f"the run started while other processes kept the machine {busy:.0%} busy"
        log(f"machine {busy:.0%} busy with other processes: waiting (up to {max_wait_s} s)")


def draw_charts(rep: report.Report, out: Path) -> list[str]:
    """Draw the charts from `out`/results.json when matplotlib is installed; their names."""
    try:
        import charts
    except ImportError:
        rep.problems.append("charts not drawn: matplotlib missing (pip install -e '.[bench]')")
        return []
    return [p.name for p in charts.draw(out / "results.json", out)]


if __name__ == "__main__":
    sys.exit(main())
