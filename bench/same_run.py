"""The targets of the same-run comparisons of issues 12-16 (results.COMPARISONS).

Each differs from `mock`, `passthrough` or `proxy` in one feature only (the access log, CORS,
the mock's state, TLS to the upstream, a live violations stream), so the ratio of the two,
measured in the same interleaved rounds, is what that feature costs. Ports 18116-18122.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess

import certs
from loadgen import Load
from targets import HERE, Context, Target, _gateway, standin_origin

#: The Origin every request of mock-cors carries (a page served from another origin).
CORS_ORIGIN = "http://127.0.0.1:8080"


def same_run_targets(ctx: Context) -> list[Target]:
    """Targets that differ from `mock`, `passthrough` or `proxy` in one feature only, so the
    same run shows what that feature costs (results.COMPARISONS)."""
    py, ca = ctx.python, str(certs.paths(ctx.tls_dir).ca)
    tls, invalid = standin_origin("tls"), standin_origin("invalid")
    targets = [
        _gateway(ctx, "mock-quiet", 18116, "mock", "--access-log", "off"),
        _gateway(ctx, "mock-cors", 18117, "mock", "--cors", "on"),
        _gateway(ctx, "mock-stateless", 18118, "mock", "--state", "off"),
        Target("passthrough-https", "reference", "bench/passthrough.py to the TLS stand-in "
               "(same core), verifying it with the bench's CA (--ca)", 18119,
               [py, str(HERE / "passthrough.py"), "--port", "18119", "--upstream", tls,
                "--ca", ca], Load(18119)),
        _gateway(ctx, "proxy-https", 18120, "proxy", "--upstream", tls, "--upstream-ca", ca),
        _gateway(ctx, "proxy-violating", 18121, "proxy", "--upstream", invalid),
        _gateway(ctx, "proxy-watched", 18122, "proxy", "--upstream", invalid),
    ]  # fmt: skip
    by_name = {t.name: t for t in targets}
    by_name["mock-quiet"].note = "mock with --access-log off (as every mock before issue 12)"
    by_name["mock-cors"].note = f"mock --cors on; every request carries Origin: {CORS_ORIGIN}"
    by_name["mock-cors"].load = dataclasses.replace(by_name["mock-cors"].load, origin=CORS_ORIGIN)
    by_name["mock-cors"].expect_header = "Access-Control-Allow-Origin"
    by_name["mock-stateless"].note = "mock --state off (issue 13; `mock` has state on)"
    if not _has_option(ctx, "mock", "--state"):
        by_name[
            "mock-stateless"
        ].skip = (
            "`portal-proxy mock --help` lists no --state (issue 13 not merged in this checkout)"
        )
    by_name["proxy-https"].note = "proxy to the TLS stand-in (same core), --upstream-ca"
    by_name[
        "proxy-violating"
    ].note = "proxy to a stand-in answering schema-violating 201s (sl-violations on every answer)"
    by_name[
        "proxy-watched"
    ].note = "proxy-violating with a client reading /__proxy/violations/stream during every round"
    by_name["proxy-watched"].watch = "/__proxy/violations/stream"
    no_certs = certs.available()
    for target in targets:
        if target.name.endswith("-https"):
            target.standin, target.skip = "tls", no_certs
        if target.name.startswith("proxy-"):
            target.upstream = True
        if target.name in ("proxy-violating", "proxy-watched"):
            target.standin, target.expect_header = "invalid", "sl-violations"
    by_name["passthrough-https"].upstream = True
    return targets


def _has_option(ctx: Context, mode: str, option: str) -> bool:
    """True when `portal-proxy MODE --help` lists `option`."""
    try:
        done = subprocess.run([*ctx.cli, mode, "--help"], capture_output=True, text=True,
                              timeout=30, check=False)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return False
    return re.search(rf"{re.escape(option)}(?![\w-])", done.stdout) is not None
