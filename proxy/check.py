"""`portal-proxy check`: validate recorded interactions against the spec (drift detection).

Every interaction whose request maps to an operation of the spec has its request and
response validated; the violations are printed, and any Error in a response makes the exit
code 1 (request violations are Warnings: a recorded bad request is usually deliberate).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from multidict import CIMultiDict

from proxy.fileargs import cassette_dir, spec_path
from proxy.spec import Spec, SpecError
from proxy.storage import CassetteError, load_cassette
from proxy.validation import validate_request, validate_response
from proxy.violations import Violation, has_errors, violation_line


def run_check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run `check` for parsed arguments; returns the exit code."""
    folder = cassette_dir(args)
    try:
        spec = Spec.load(spec_path(args))
    except SpecError as exc:
        parser.error(f"--spec: {exc}")
    paths = [_cassette_file(name, folder) for name in args.cassettes] or sorted(
        folder.glob("*.yaml")
    )
    if not paths:
        parser.error(f"--cassette-dir: no cassettes (*.yaml) in {str(folder)!r}")
    report: list[dict[str, Any]] = []
    failed = False
    for path in paths:
        try:
            interactions = load_cassette(path)
        except (CassetteError, OSError) as exc:
            parser.error(f"CASSETTE: {exc}")
        for index, interaction in enumerate(interactions):
            found = check_interaction(
                spec,
                interaction.request.method,
                interaction.request.uri,
                interaction.request.headers,
                interaction.request.body,
                interaction.response.status,
                interaction.response.headers,
                interaction.response.body,
            )
            if found:
                failed = failed or has_errors(found)
                report.append(
                    {
                        "cassette": str(path),
                        "interaction": index,
                        "method": interaction.request.method,
                        "uri": interaction.request.uri,
                        "violations": found,
                    }
                )
    if args.format == "json":
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        for item in report:
            print(f"{item['cassette']} #{item['interaction']} {item['method']} {item['uri']}")
            for v in item["violations"]:
                print(f"  {violation_line(v)}")
        total = sum(len(item["violations"]) for item in report)
        print(
            f"{len(paths)} cassette(s) checked, {total} violation(s)"
            f"{', errors found' if failed else ''}"
        )
    return 1 if failed else 0


def check_interaction(
    spec: Spec,
    method: str,
    uri: str,
    request_headers: tuple[tuple[str, str], ...],
    request_body: bytes,
    status: int,
    response_headers: tuple[tuple[str, str], ...],
    response_body: bytes,
) -> list[Violation]:
    """Violations of one recorded exchange (none for paths the spec does not describe)."""
    parts = urlsplit(uri)
    route = spec.match(method, parts.path)
    if route is None or route.operation is None:
        return []
    # Recorded credentials are redacted, so the security requirement cannot be judged here.
    operation = route.operation
    headers = CIMultiDict(request_headers)
    found, _ = validate_request(operation, route.path_params, parts.query, headers, request_body)
    # A recorded bad request is usually deliberate (it recorded the portal's 422): it is
    # reported, as a Warning; drift that fails the check is in what the portal answered.
    found = [{**v, "severity": "Warning"} for v in found if v["code"] != 401]
    found.extend(validate_response(operation, status, CIMultiDict(response_headers), response_body))
    return found


def _cassette_file(name: str, folder: Path) -> Path:
    path = Path(name)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    return folder / f"{name}.yaml"
