"""`portal-proxy import-har` and `portal-proxy export-har`: HAR files to cassettes and back.

`import-har` exits 0 when every imported response is spec-valid, 1 when one has an Error
(like `check`: the cassette is written all the same, it is what the portal answered), and 2
for a bad option or a file that is not HAR 1.2 (then nothing is written).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from proxy.fileargs import add_spec_and_dir, cassette_dir, spec_path
from proxy.har import HAR_VERSION, HarError, Imported, import_entries, parse_har
from proxy.har_export import export_har
from proxy.redact import Redactor
from proxy.spec import Spec, SpecError
from proxy.storage import HEADER, CassetteError, cassette_path, encode_interaction, load_cassette
from proxy.violations import violation_line

if TYPE_CHECKING:
    from proxy.violations import Violation


def add_parsers(sub: Any) -> None:
    """Add the `import-har` and `export-har` subcommands to `portal-proxy`'s subparsers."""
    imp = sub.add_parser(
        "import-har",
        help="turn a HAR 1.2 file (browser, Playwright) into a cassette",
        description="Turn a HAR 1.2 file into the cassette <cassette-dir>/<NAME>.yaml: entries "
        "under the spec's base path, secrets redacted, bodies decoded, each validated; exit 1 "
        "when a response has an Error.",
    )
    imp.add_argument("har", metavar="FILE.har", help="the HAR file to import")
    imp.add_argument("--cassette", metavar="NAME", required=True, help="cassette to write")
    add_spec_and_dir(imp)
    _add_filter_header(imp)
    imp.add_argument("--force", action="store_true", help="replace an existing cassette")
    exp = sub.add_parser(
        "export-har",
        help="write a cassette as a HAR 1.2 file (for browsers and HAR viewers)",
        description="Write the cassette <cassette-dir>/<NAME>.yaml as HAR 1.2.",
    )
    exp.add_argument("cassette", metavar="NAME", help="cassette name, or a .yaml file")
    exp.add_argument("-o", "--output", metavar="FILE.har", required=True, help="'-' for stdout")
    add_spec_and_dir(exp)
    _add_filter_header(exp)


def _add_filter_header(parser: argparse.ArgumentParser) -> None:
    """`--filter-header`: redacted besides what the spec's securitySchemes name."""
    parser.add_argument(
        "--filter-header",
        action="append",
        metavar="NAME",
        default=[],
        help="another header to redact (repeatable)",
    )


def _spec_and_redactor(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> tuple[Spec, Redactor]:
    """The spec `--spec` names, and the redactor recording would use with it."""
    try:
        spec = Spec.load(spec_path(args))
    except SpecError as exc:
        parser.error(f"--spec: {exc}")
    return spec, Redactor.for_spec(spec.document, args.filter_header)


def run_import(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run `import-har`; returns the exit code."""
    spec, redactor = _spec_and_redactor(args, parser)
    try:
        target = cassette_path(cassette_dir(args), args.cassette)
    except ValueError as exc:
        parser.error(f"--cassette: {exc}")
    if target.exists() and not args.force:
        parser.error(f"--cassette: {target} exists; pass --force to replace it")
    try:
        entries = parse_har(Path(args.har).read_bytes())
    except OSError as exc:
        parser.error(f"FILE.har: cannot read {args.har!r}: {exc.strerror}")
    except HarError as exc:
        parser.error(f"FILE.har: {args.har} is not HAR {HAR_VERSION}: {exc}; nothing written")
    imported = import_entries(entries, spec, redactor)
    if not imported.interactions:
        parser.error(
            f"FILE.har: no entry of {args.har} is under the spec's base path "
            f"{spec.base_path or '/'}{_skipped(imported)}; nothing written"
        )
    failed, total = _report(spec, imported)
    try:
        write_atomically(
            target,
            [HEADER, *map(encode_interaction, imported.interactions)],
            replace=args.force,
        )
    except FileExistsError:
        parser.error(f"--cassette: {target} exists; pass --force to replace it")
    except OSError as exc:
        print(f"portal-proxy: error: cannot write {target}: {exc.strerror}", file=sys.stderr)
        return 2
    print(
        f"{len(imported.interactions)} interaction(s) written to {target}; "
        f"{sum(imported.skipped.values())} HAR entries skipped{_skipped(imported)}; "
        f"{total} violation(s){', errors found' if failed else ''}"
    )
    return 1 if failed else 0


def _report(spec: Spec, imported: Imported) -> tuple[bool, int]:
    """Validate each interaction, print its violations as `check` does; (any Error, count)."""
    # Imported here: validation pulls in jsonschema, which other subcommands' start-up
    # should not pay for just because this module adds its parsers.
    from proxy.check import check_interaction
    from proxy.violations import has_errors

    failed, total = False, 0
    for index, interaction in enumerate(imported.interactions):
        request, response = interaction.request, interaction.response
        found: list[Violation] = check_interaction(
            spec, request.method, request.uri, request.headers, request.body,
            response.status, response.headers, response.body,
        )  # fmt: skip
        if not found:
            continue
        failed = failed or has_errors(found)
        total += len(found)
        print(f"#{index} {request.method} {request.uri}")
        for v in found:
            print(f"  {violation_line(v)}")
    return failed, total


def _skipped(imported: Imported) -> str:
    """` (2 outside /portal-api, 1 CORS preflight)`, or nothing when nothing was skipped."""
    reasons = ", ".join(f"{count} {reason}" for reason, count in imported.skipped.items())
    return f" ({reasons})" if reasons else ""


def run_export(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run `export-har`; returns the exit code."""
    _, redactor = _spec_and_redactor(args, parser)
    name = Path(args.cassette)
    if name.suffix in (".yaml", ".yml") and name.is_file():
        source = name
    else:
        try:
            source = cassette_path(cassette_dir(args), args.cassette)
        except ValueError as exc:
            parser.error(f"NAME: {exc}")
    try:
        interactions = load_cassette(source)
        started = dt.datetime.fromtimestamp(source.stat().st_mtime, dt.UTC)
    except FileNotFoundError:
        parser.error(f"NAME: no cassette {source}")
    except (CassetteError, OSError) as exc:
        parser.error(f"NAME: {exc}")
    data = (
        orjson.dumps(export_har(interactions, started, redactor), option=orjson.OPT_INDENT_2)
        + b"\n"
    )
    if args.output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return 0
    try:
        write_atomically(Path(args.output), [data], replace=True)
    except OSError as exc:
        parser.error(f"--output: cannot write {args.output!r}: {exc.strerror}")
    print(f"{len(interactions)} interaction(s) of {source} written to {args.output}")
    return 0


def write_atomically(path: Path, chunks: Iterable[bytes], *, replace: bool) -> None:
    """Write `path` whole or not at all: a temporary file beside it, fsync, then rename.

    Without `replace`, an existing `path` is never overwritten (`FileExistsError`), even
    one created meanwhile: the file is linked into place, which fails if the name is taken.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.writelines(chunks)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o644)
        if replace:
            os.replace(temp, path)
        else:
            os.link(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
