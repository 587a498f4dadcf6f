"""`portal-proxy check`: drift detection over recorded cassettes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from proxy.cassette import Interaction, RecordedRequest, RecordedResponse
from proxy.storage import HEADER, encode_interaction
from tests.cli_process import command

ROOT = Path(__file__).resolve().parents[1]
URI = "http://portal:3001/portal-api/products/1/client_types"


def cassette(folder: Path, name: str, body: bytes, status: int = 201) -> Path:
    interaction = Interaction(
        RecordedRequest("POST", URI, (("Content-Type", "application/json"),), b'{"ID": 1}'),
        RecordedResponse(status, "Created", (("Content-Type", "application/json"),), body),
    )
    path = folder / f"{name}.yaml"
    path.write_bytes(HEADER + encode_interaction(interaction))
    return path


def check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command("check", *args), capture_output=True, text=True, timeout=30, env=os.environ.copy()
    )


def test_the_shipped_example_cassette_passes() -> None:
    result = check("--cassette-dir", str(ROOT / "cassettes"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 cassette(s) checked" in result.stdout


def test_a_cassette_that_no_longer_fits_the_spec_fails_with_its_violations(tmp_path: Path) -> None:
    cassette(tmp_path, "good", b'{"ID": 1, "GrantType": "pkce"}')
    bad = cassette(tmp_path, "bad", b'{"ID": "1", "CreatedAt": "2023-06-23T21:02:00Z"}')
    result = check("--cassette-dir", str(tmp_path))
    assert result.returncode == 1
    assert str(bad) in result.stdout
    assert "Error response.body.ID (type): " in result.stdout
    assert "Error response.body.CreatedAt (pattern): " in result.stdout
    only_good = check("--cassette-dir", str(tmp_path), "good")
    assert only_good.returncode == 0


def test_warnings_alone_do_not_fail_and_json_output_parses(tmp_path: Path) -> None:
    cassette(tmp_path, "warn", b'{"errors": ["Not authorised"]}', status=401)
    result = check("--cassette-dir", str(tmp_path), "--format", "json")
    assert result.returncode == 0
    [item] = json.loads(result.stdout)
    assert [v["severity"] for v in item["violations"]] == ["Warning"]


def test_a_broken_cassette_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("interactions: [\n")
    result = check("--cassette-dir", str(tmp_path))
    assert result.returncode == 2
    assert "broken.yaml" in result.stderr
