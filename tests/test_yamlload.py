"""Tests for proxy.yamlload: VCR.py's few Python tags read as data, every other one refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.storage import CassetteError, load_cassette

RESPONSE = "  response: {status: {code: 201, message: Created}, headers: {}, body: {string: ok}}\n"


def cassette(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(
        f"interactions:\n- request:\n    body: {body}\n    headers: {{}}\n    method: POST\n"
        f"    uri: http://portal/x\n{RESPONSE}version: 1\n"
    )
    return path


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('!!python/unicode "caf\\xe9"', "café".encode()),  # what Python 2's VCR.py wrote
        ("!!binary 'AAE='", b"\x00\x01"),
        ("'plain'", b"plain"),
        (
            "!!python/object/new:_io.BytesIO {state: !!python/tuple [!!binary 'e30=', 0, null]}",
            b"{}",
        ),
        ("!!python/object/apply:builtins.iter {args: [[!!binary 'eyI=', '}']], state: 0}", b'{"}'),
        ("{ID: 3, tags: [a]}", b'{"ID":3,"tags":["a"]}'),
    ],
)
def test_vcrpy_body_forms_load_as_bytes(tmp_path: Path, body: str, expected: bytes) -> None:
    assert load_cassette(cassette(tmp_path, body))[0].request.body == expected


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.mkdir",
        "!!python/object/new:os.mkdir",
        "!!python/name:os.mkdir",
        "!!python/module:os",
        "!!python/object:pathlib.Path",
    ],
)
def test_other_python_tags_are_refused_by_name_never_constructed(tmp_path: Path, tag: str) -> None:
    victim = tmp_path / "made-by-the-cassette"
    path = cassette(tmp_path, f"{tag} [{str(victim)!r}]")
    with pytest.raises(CassetteError) as info:
        load_cassette(path)
    message = str(info.value)
    assert str(path) in message
    assert f"refusing the Python object tag {tag}" in message
    assert not victim.exists()
