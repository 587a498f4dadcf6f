"""`portal-proxy MODE [options]`: argv and `PORTAL_PROXY_*` variables to settings, then run.

Exit codes: 0 after a clean stop, 1 when `check` finds an Error, 2 for a bad option
(the message names it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from proxy import __version__
from proxy.fileargs import add_spec_and_dir
from proxy.settings import MODES, OPTIONS, Settings, SettingsError, resolve
from proxy.spec import Spec, SpecError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: one subcommand per mode, plus `check`, `import-har`, `export-har`."""
    parser = argparse.ArgumentParser(
        prog="portal-proxy",
        description="Validating mock, recorder, replayer and proxy for the Tyk Developer "
        "Portal's POST /portal-api/products/{product_id}/client_types.",
    )
    parser.add_argument("--version", action="version", version=f"portal-proxy {__version__}")
    sub = parser.add_subparsers(dest="mode", metavar="MODE", required=True)
    helps = {
        "mock": "serve the route from the spec (and a cassette, if named)",
        "replay": "serve the route from recorded cassettes only",
        "record": "forward to --upstream and record cassettes",
        "proxy": "forward to --upstream, validating both directions",
    }
    for mode in MODES:
        mode_parser = sub.add_parser(mode, help=helps[mode], description=helps[mode])
        for option in OPTIONS:
            if mode not in option.modes:
                continue
            if option.flag:
                mode_parser.add_argument(
                    f"--{option.name}", action="store_true", default=None, help=option.full_help
                )
            elif option.repeat:
                mode_parser.add_argument(
                    f"--{option.name}",
                    action="append",
                    metavar=option.metavar,
                    help=option.full_help,
                )
            else:
                mode_parser.add_argument(
                    f"--{option.name}", metavar=option.metavar, help=option.full_help
                )
    check = sub.add_parser(
        "check",
        help="validate every recorded interaction against the spec; exit 1 on any Error",
        description="Validate cassettes against the spec (drift detection).",
    )
    check.add_argument(
        "cassettes",
        nargs="*",
        metavar="CASSETTE",
        help="cassette files or names (default: every cassette in --cassette-dir)",
    )
    add_spec_and_dir(check)
    check.add_argument("--format", choices=("text", "json"), default="text")
    # HAR import and export (proxy/har_cli.py).
    from proxy.har_cli import add_parsers

    add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `portal-proxy` and `python -m proxy`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.mode == "check":
        from proxy.check import run_check

        return run_check(args, parser)
    if args.mode in ("import-har", "export-har"):
        from proxy.har_cli import run_export, run_import

        return (run_import if args.mode == "import-har" else run_export)(args, parser)
    flags = {k: v for k, v in vars(args).items() if k != "mode"}
    try:
        settings = resolve(args.mode, flags)
        spec = Spec.load(settings.spec)
    except SettingsError as exc:
        parser.error(str(exc))
    except SpecError as exc:
        parser.error(f"--spec: {exc}")
    return run(settings, spec)


def run(settings: Settings, spec: Spec) -> int:
    """Build the app and serve it until stopped."""
    from proxy.app import build_app
    from proxy.report import configure_logging
    from proxy.server import run as run_loop
    from proxy.server import serve
    from proxy.storage import CassetteError, CassetteLockedError

    configure_logging(settings.log_format)
    try:
        app = build_app(settings, spec, owns_process=True)
        run_loop(serve(app, settings.host, settings.port, settings.mode), settings.loop)
    except (CassetteError, CassetteLockedError) as exc:
        print(f"portal-proxy: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"portal-proxy: error: cannot listen on {settings.host}:{settings.port}: "
            f"{exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        pass
    return 0
