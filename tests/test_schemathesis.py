"""Schemathesis 4 (the real CLI, every check, every phase including stateful) against `mock`.

On the seed spec and on Tyk's whole spec, every answer must fit the spec: status, media
type, headers, body schema, valid data accepted, invalid data refused, a deleted resource
gone, a created one there. Only what the spec itself leaves without a right answer is
tolerated, each narrowly and with its reason (`_tolerated`).
"""

from __future__ import annotations

import asyncio
import base64
import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import FULL_SPEC, GatewayFactory

SEED_SPEC = Path(__file__).resolve().parents[1] / "schemas" / "client_types.yaml"
#: The CLI installed beside this interpreter (the `test` extra), else one on PATH.
SCHEMATHESIS = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or shutil.which(
    "schemathesis"
)
#: The mock reads no token, but must see one: without it every request is a 401 (the
#: portal's answer), and status_code_conformance stays on.
TOKEN = "Authorization: schemathesis-token"


@dataclass(frozen=True)
class Failure:
    """One failed check, with what was sent and answered (for the report)."""

    check: str
    operation: str
    phase: str
    status: int
    message: str
    request: str
    answer: str

    def __str__(self) -> str:
        message = self.message.strip().replace("\n", " ")[:300]
        return (
            f"[{self.phase}] {self.check} on {self.operation}: {message}\n"
            f"    sent {self.request}\n    got {self.status} {self.answer[:300]}"
        )


@dataclass(frozen=True)
class Run:
    """A finished Schemathesis run: its output, case count, phases and failures."""

    output: str
    cases: int
    phases: dict[str, str]
    failures: list[Failure]
    errors: list[str]  # scenarios Schemathesis could not run (an operation left untested)


async def schemathesis(spec: Path, base_url: str, tmp_path: Path, max_examples: int) -> Run:
    """Run `schemathesis run` against a running gateway; deterministic (fixed seed)."""
    assert SCHEMATHESIS is not None, "schemathesis is a test dependency: pip install -e '.[test]'"
    events = tmp_path / "events.ndjson"
    process = await asyncio.create_subprocess_exec(
        SCHEMATHESIS,
        "run",
        str(spec),
        "--url",
        base_url,
        "--header",
        TOKEN,
        "--checks",
        "all",
        # A mock cannot tell a real token from a bogus one: it accepts any non-empty one.
        "--exclude-checks",
        "ignored_auth",
        "--max-examples",
        str(max_examples),
        "--seed",
        "1",
        "--generation-deterministic",
        "--workers",
        "1",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(events),
        "--no-color",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), timeout=110)
    output = stdout.decode("utf-8", "replace")
    found = re.search(r"(\d+) generated", output)
    phases: dict[str, str] = {}
    failures: list[Failure] = []
    errors: list[str] = []
    for line in events.read_bytes().splitlines():
        event = orjson.loads(line)
        if "PhaseFinished" in event:
            finished = event["PhaseFinished"]
            phases[finished["phase"]["name"]] = finished["status"]
        elif "ScenarioFinished" in event:
            scenario = event["ScenarioFinished"]
            failures.extend(_failures(scenario))
            if scenario["status"] == "error":
                errors.append(str(scenario["recorder"].get("label")))
    return Run(output, int(found.group(1)) if found else 0, phases, failures, errors)


def _failures(scenario: dict[str, Any]) -> list[Failure]:
    recorder = scenario["recorder"]
    found = []
    for case_id, checks in (recorder.get("checks") or {}).items():
        interaction = (recorder.get("interactions") or {}).get(case_id) or {}
        request = interaction.get("request") or {}
        response = interaction.get("response") or {}
        content = (response.get("content") or {}).get("$base64") or ""
        for check in checks:
            if check["status"] != "failure":
                continue
            failure = check["failure_info"]["failure"]
            found.append(
                Failure(
                    check=check["name"],
                    operation=str(failure.get("operation")),
                    phase=scenario["phase"],
                    status=int(response.get("status_code") or 0),
                    message=str(failure.get("message") or failure.get("title")),
                    request=f"{request.get('method')} {request.get('uri')}",
                    answer=base64.b64decode(content).decode("utf-8", "replace"),
                )
            )
    return found


def _tolerated(failure: Failure) -> bool:
    """Where the spec leaves no right answer, and only there."""
    if failure.check != "status_code_conformance":
        return False
    documented = re.search(r"Documented: ([\d, X]+)", failure.message)
    codes = documented.group(1).replace(" ", "").split(",") if documented else []
    if failure.status == 401:
        # No credentials: the portal answers 401, which no operation documents.
        return "Invalid security scheme" in failure.answer
    if failure.status == 422 and not any(code.startswith("4") for code in codes):
        # Invalid input on an operation that documents no 4xx at all: some 4xx must answer.
        return '"errors"' in failure.answer
    if failure.status == 404 and "404" not in codes:
        # That item, or its parent, was deleted earlier in the run: no documented status
        # says "gone" on this operation, and answering 2xx would fail use_after_free.
        return "was deleted" in failure.answer
    return False


def _report(run: Run, left: list[Failure]) -> str:
    shown = "\n".join(str(failure) for failure in left[:20])
    tail = run.output[-4000:]
    return f"{len(left)} failures not tolerated:\n{shown}\n\n--- schemathesis output ---\n{tail}"


async def _check(gateway_factory: GatewayFactory, spec: Path, tmp_path: Path, examples: int) -> Run:
    gateway = await gateway_factory("mock", spec=spec)
    run = await schemathesis(spec, f"{gateway.url}/portal-api", tmp_path, examples)
    left = [failure for failure in run.failures if not _tolerated(failure)]
    assert not left, _report(run, left)
    # Every phase ran, the stateful one included (a run that tested nothing cannot pass).
    assert {"examples", "coverage", "fuzzing", "stateful"} <= run.phases.keys(), run.output
    assert "error" not in run.phases.values(), run.output
    assert not run.errors, f"untested: {run.errors}\n{run.output[-4000:]}"
    tolerated = Counter(f.status for f in run.failures if _tolerated(f))
    print(f"{spec.name}: {run.cases} cases; tolerated by status {dict(tolerated)}")
    return run


@pytest.mark.slow
async def test_seed_spec_passes_schemathesis(
    gateway_factory: GatewayFactory, tmp_path: Path
) -> None:
    run = await _check(gateway_factory, SEED_SPEC, tmp_path, examples=50)
    assert run.cases >= 50, run.output


@pytest.mark.slow
@pytest.mark.skipif(not FULL_SPEC.is_file(), reason=f"Tyk's whole spec is not at {FULL_SPEC}")
async def test_whole_portal_spec_passes_schemathesis(
    gateway_factory: GatewayFactory, tmp_path: Path
) -> None:
    run = await _check(gateway_factory, FULL_SPEC, tmp_path, examples=10)
    assert run.cases >= 2000, run.output
    # The whole spec links its operations, so the stateful phase has scenarios to run
    # (the seed's single operation has none: Schemathesis skips the phase there).
    assert run.phases["stateful"] != "skip", run.output
