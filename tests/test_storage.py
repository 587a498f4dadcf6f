"""Tests for proxy.storage: real files, real YAML loaders, and VCR.py itself as the judge."""

from __future__ import annotations

import asyncio
import fcntl
import gzip
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import vcr
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vcr.request import Request as VcrRequest
from vcr.serialize import deserialize, serialize
from vcr.serializers import yamlserializer

from proxy import inflate
from proxy.cassette import Interaction, RecordedRequest, RecordedResponse
from proxy.storage import (
    HEADER,
    CassetteError,
    CassetteLockedError,
    CassetteWriter,
    cassette_path,
    decode_for_cassette,
    encode_interaction,
    interaction_from_dict,
    interaction_to_dict,
    load_cassette,
    loading,
    validate_cassette_name,
)
from proxy.storage.lock import lock_path


def closed_port() -> int:
    """A loopback port nothing listens on, so only VCR.py can answer."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make(
    i: int = 0,
    *,
    request_body: bytes = b"",
    body: bytes | None = None,
    uri: str = "http://127.0.0.1:9/portal-api/products/1/client_types",
) -> Interaction:
    return Interaction(
        RecordedRequest(
            "GET" if not request_body else "POST",
            f"{uri}?n={i}",
            (("Accept", "application/json"), ("X-Multi", "a"), ("X-Multi", "b")),
            request_body,
        ),
        RecordedResponse(
            200,
            "OK",
            (("Content-Type", "application/json"), ("Set-Cookie", "REDACTED")),
            body if body is not None else b'{"data": [{"id": %d, "name": "n\\u00e9"}]}' % i,
        ),
    )


def write(path: Path, interactions: list[Interaction]) -> bytes:
    data = HEADER + b"".join(encode_interaction(i) for i in interactions)
    path.write_bytes(data)
    return data


def vcr_load(data: bytes) -> tuple[list[VcrRequest], list[dict[str, Any]]]:
    requests, responses = deserialize(data.decode("utf-8"), yamlserializer)
    return requests, responses


# -- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        *("client_types", "portal-v2.smoke", "a", "X_1", "9", "a..b"),
        # Any file name: pytest-recording's parametrized and overlong names, hidden files.
        *("test_param[31]", "TestX.test_y[a b-1]", "x" * 200 + "...0123abcd", ".hidden", "-f"),
        "é" * 125,
    ],
)
def test_valid_cassette_names(name: str) -> None:
    assert validate_cassette_name(name) == name
    assert cassette_path(Path("/c"), name) == Path(f"/c/{name}.yaml")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "it is empty"),
        ("../x", "path separator"),
        ("/etc/passwd", "path separator"),
        ("a/b", "path separator"),
        ("a\\b", "path separator"),
        ("..", "it is '..'"),
        ("a\0b", "NUL"),
        ("x" * 251, "longer than 250 bytes"),
        ("é" * 126, "longer than 250 bytes"),
    ],
)
def test_invalid_cassette_names(name: str, problem: str) -> None:
    with pytest.raises(ValueError, match="invalid cassette name") as info:
        validate_cassette_name(name)
    assert problem in str(info.value)
    assert "such as 'client_types'" in str(info.value)
    with pytest.raises(ValueError, match="invalid cassette name"):
        cassette_path(Path("/c"), name)


# -- decoding ------------------------------------------------------------------------------

JSON = b'{"data": [1, 2, 3]}' * 20


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", gzip.compress(JSON, mtime=0)),
        ("x-gzip", gzip.compress(JSON, mtime=0)),
        ("GZIP", gzip.compress(JSON, mtime=0)),
        ("deflate", zlib.compress(JSON)),
        ("deflate", raw_deflate(JSON)),
    ],
)
def test_decode_for_cassette_decompresses(encoding: str, body: bytes) -> None:
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Encoding", encoding),
        ("Content-Length", str(len(body))),
        ("Vary", "Accept-Encoding"),
    ]
    assert decode_for_cassette(headers, body) == (
        (
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(JSON))),
            ("Vary", "Accept-Encoding"),
        ),
        JSON,
    )


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ((("Content-Type", "application/json"),), JSON),
        ((("Content-Encoding", "br"),), b"\x1b\x00"),
        ((("Content-Encoding", "gzip, br"),), gzip.compress(JSON, mtime=0)),
        ((("Content-Encoding", "gzip"), ("Content-Encoding", "br")), gzip.compress(JSON, mtime=0)),
        ((("Content-Encoding", "gzip"),), b"not gzip"),
        ((("Content-Encoding", "gzip"),), gzip.compress(JSON, mtime=0)[:-10]),  # truncated
        ((("Content-Encoding", "gzip"),), gzip.compress(JSON, mtime=0) + b"trailing"),
    ],
)
def test_decode_for_cassette_leaves_what_it_cannot_decode(
    headers: tuple[tuple[str, str], ...], body: bytes
) -> None:
    assert decode_for_cassette(headers, body) == (headers, body)


def test_decode_for_cassette_refuses_to_inflate_past_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(inflate, "MAX_INFLATED", len(JSON) - 1)
    headers = (("Content-Encoding", "gzip"),)
    body = gzip.compress(JSON)
    assert decode_for_cassette(headers, body) == (headers, body)
    monkeypatch.setattr(inflate, "MAX_INFLATED", len(JSON))
    assert decode_for_cassette(headers, body) == ((), JSON)


# -- dict form and encoding ----------------------------------------------------------------


def test_dict_form_is_vcrpys() -> None:
    interaction = make(1, request_body=b'{"a": 1}')
    mixed_case = (*interaction.request.headers, ("x-multi", "c"))
    as_dict = interaction_to_dict(
        Interaction(
            RecordedRequest("POST", interaction.request.uri, mixed_case, b'{"a": 1}'),
            interaction.response,
        )
    )
    assert as_dict == {
        "request": {
            "body": '{"a": 1}',
            "headers": {"Accept": ["application/json"], "X-Multi": ["a", "b", "c"]},
            "method": "POST",
            "uri": "http://127.0.0.1:9/portal-api/products/1/client_types?n=1",
        },
        "response": {
            "body": {"string": '{"data": [{"id": 1, "name": "n\\u00e9"}]}'},
            "headers": {"Content-Type": ["application/json"], "Set-Cookie": ["REDACTED"]},
            "status": {"code": 200, "message": "OK"},
        },
    }
    back = interaction_from_dict(as_dict)
    # Header names that differ only in case are grouped under the first spelling.
    assert back.request.headers == (
        ("Accept", "application/json"),
        ("X-Multi", "a"),
        ("X-Multi", "b"),
        ("X-Multi", "c"),
    )
    assert back.response == interaction.response


def test_empty_request_body_is_null_and_binary_stays_bytes() -> None:
    as_dict = interaction_to_dict(make(request_body=b"", body=b"\xff\x00"))
    assert as_dict["request"]["body"] is None
    assert as_dict["response"]["body"] == {"string": b"\xff\x00"}
    item = encode_interaction(make(request_body=b"\x80", body=b"\xff\x00"))
    assert b'"body":!!binary "gA=="' in item
    assert b'"string":!!binary "/wA="' in item


def test_encoded_items_are_one_ascii_line() -> None:
    item = encode_interaction(make(body="n\u00e9 \U0001f600 \x85\u2028 \x7f".encode()))
    assert item.startswith(b'- {"request":{"body":null,')
    assert item.endswith(b"}}\n")
    assert item.count(b"\n") == 1
    assert item.isascii()
    assert b"n\\u00e9 \\U0001f600 \\u0085\\u2028 \\u007f" in item


bodies = st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode("utf-8"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    request_body=bodies,
    body=bodies,
    header_value=st.text(max_size=50),
    uri_tail=st.text(max_size=50),
)
def test_any_body_round_trips_through_yaml_and_vcrpy(
    request_body: bytes, body: bytes, header_value: str, uri_tail: str
) -> None:
    original = Interaction(
        RecordedRequest(
            "POST", "http://h/p?q=" + uri_tail, (("X-Any", header_value),), request_body
        ),
        RecordedResponse(201, "Created", (("X-Any", header_value),), body),
    )
    data = HEADER + encode_interaction(original) + encode_interaction(make(2))
    text = data.decode("utf-8")
    for loader in (yaml.CSafeLoader, yaml.SafeLoader):
        document = yaml.load(text, Loader=loader)
        assert document["version"] == 1
        assert interaction_from_dict(document["interactions"][0]) == original
    requests, responses = vcr_load(data)
    assert (requests[0].body or b"") == request_body
    assert requests[0].uri == original.request.uri
    assert requests[0].headers["X-Any"] == header_value
    assert responses[0]["body"]["string"] == body
    assert responses[0]["headers"]["X-Any"] == [header_value]
    with tempfile.TemporaryDirectory() as tmp:  # not tmp_path: one file per example
        path = Path(tmp) / "c.yaml"
        path.write_bytes(data)
        assert load_cassette(path) == [original, make(2)]


# -- loading -------------------------------------------------------------------------------


def test_load_our_layout(tmp_path: Path) -> None:
    interactions = [make(i) for i in range(3)] + [make(3, request_body=b"\xfe", body=b"\xff")]
    path = tmp_path / "c.yaml"
    write(path, interactions)
    assert load_cassette(path) == interactions
    requests, responses = vcr_load(path.read_bytes())
    assert [r.uri for r in requests] == [i.request.uri for i in interactions]
    assert responses[3]["body"]["string"] == b"\xff"


def vcrpy_file(path: Path, interactions: list[Interaction]) -> None:
    """A cassette written by VCR.py's own serializer (block style, `version` last)."""
    cassette = {
        "requests": [
            VcrRequest(
                i.request.method,
                i.request.uri,
                i.request.body or None,
                {n: v for n, v in i.request.headers},
            )
            for i in interactions
        ],
        "responses": [interaction_to_dict(i)["response"] for i in interactions],
    }
    path.write_text(serialize(cassette, yamlserializer))


def test_load_vcrpy_block_style(tmp_path: Path) -> None:
    interactions = [make(0), make(1, request_body=b'{"a": 1}', body=b"\x00\xff")]
    path = tmp_path / "vcrpy.yaml"
    vcrpy_file(path, interactions)
    text = path.read_text()
    assert text.startswith("interactions:\n- request:\n")
    assert "!!binary" in text
    loaded = load_cassette(path)
    assert [i.response for i in loaded] == [i.response for i in interactions]
    assert [i.request.body for i in loaded] == [b"", b'{"a": 1}']


async def test_load_a_cassette_vcrpy_recorded(aiohttp_server: Any, tmp_path: Path) -> None:
    from aiohttp import web

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "q": request.query.get("q")})

    app = web.Application()
    app.router.add_get("/x", handler)
    server = await aiohttp_server(app)
    path = tmp_path / "recorded.yaml"
    url = str(server.make_url("/x?q=1"))
    with vcr.use_cassette(str(path), record_mode="once"):
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.status == 200
    [loaded] = load_cassette(path)
    assert loaded.request.method == "GET"
    assert loaded.request.uri == url
    assert loaded.response.status == 200
    assert loaded.response.body == b'{"ok": true, "q": "1"}'
    assert ("Content-Type", "application/json; charset=utf-8") in loaded.response.headers


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"interactions: [unclosed", "invalid YAML"),
        (b"\xff\xfe", "not UTF-8"),
        (b"version: 1\n", "'interactions' list"),
        (b"version: 1\ninteractions:\n", "'interactions' list"),
        (b"- request: {}\n", "'interactions' list"),
        (b"interactions:\n- response: {}\n", "interaction 0 has no 'request'"),
        (b"interactions:\n- request: {method: GET, uri: u}\n", "interaction 0 has no 'response'"),
        (
            b"interactions:\n- request: {uri: u}\n  response: {status: {code: 200}}\n",
            "without 'method' or 'uri'",
        ),
        (
            b"interactions:\n- request: {method: GET, uri: u}\n  response: {status: 200}\n",
            "without 'status",
        ),
        (
            b"interactions:\n- request: {method: GET, uri: u, headers: [a]}\n"
            b"  response: {status: {code: 200}}\n",
            "request headers is not a mapping",
        ),
        (
            b"interactions:\n- request: {method: GET, uri: u, body: !!set {a}}\n"
            b"  response: {status: {code: 200}}\n",
            "request body is not text, !!binary or JSON data but set",
        ),
        (b"!!python/object:os.system {}\n", "invalid YAML"),
    ],
)
def test_load_errors_name_the_file_and_the_problem(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(CassetteError) as info:
        load_cassette(path)
    assert str(path) in str(info.value)
    assert problem in str(info.value)


def test_a_corrupt_item_that_is_not_the_last_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    items = [encode_interaction(make(i)) for i in range(3)]
    path.write_bytes(HEADER + items[0] + items[1][:50] + b"\n" + items[2])
    with pytest.raises(CassetteError, match=r"c\.yaml: line 5 is not an interaction"):
        load_cassette(path)
    path.write_bytes(HEADER + items[0] + b"garbage\n" + items[2])
    with pytest.raises(CassetteError, match=r"c\.yaml: line 5 is not an interaction"):
        load_cassette(path)


@pytest.mark.parametrize("chunk", [1, 300, 1000, 4000])
def test_loading_in_chunks_loads_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    # Big files are parsed a chunk of lines at a time; small chunks put a boundary next to
    # every kind of line: JSON items, YAML-only items (!!binary, \U escapes), comments
    # (unfinished appends), blank lines and a cut last line.
    items = [make(i) for i in range(12)]
    items[3] = make(3, body=b"\xff\xfe")
    items[7] = make(7, body="\U0001f600".encode())
    lines = [encode_interaction(i) for i in items]
    lines.insert(5, b"#" + encode_interaction(make(99))[1:])
    lines.insert(9, b"\n")
    data = HEADER + b"".join(lines)
    path = tmp_path / "c.yaml"
    path.write_bytes(data)
    monkeypatch.setattr(loading, "_CHUNK", chunk)
    assert load_cassette(path) == items
    path.write_bytes(data + encode_interaction(make(12))[:40])
    assert load_cassette(path) == items
    path.write_bytes(data + b"garbage\n" + encode_interaction(make(12)))
    line = data.count(b"\n") + 1
    with pytest.raises(CassetteError, match=rf"c\.yaml: line {line} is not an interaction"):
        load_cassette(path)


def test_equal_values_of_a_cassette_are_shared(tmp_path: Path) -> None:
    # 100,000 interactions repeat the same headers, methods and bodies: one copy of each.
    path = tmp_path / "c.yaml"
    write(path, [make(i, body=b"{}") for i in range(3)])
    first, second, third = load_cassette(path)
    assert first.request.uri != second.request.uri
    assert first.request.headers is second.request.headers is third.request.headers
    assert first.request.method is second.request.method
    assert first.response.headers is second.response.headers
    assert first.response.body is second.response.body
    assert first.response.reason is second.response.reason


def test_minimal_vcrpy_items_load(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(
        b"interactions:\n- request: {method: GET, uri: 'http://h/', body: null, headers: {}}\n"
        b"  response: {status: {code: 204}, headers: {A: b, N: [1]}, body: {}}\nversion: 1\n"
    )
    [loaded] = load_cassette(path)
    assert loaded.response == RecordedResponse(204, "", (("A", "b"), ("N", "1")), b"")


@pytest.mark.parametrize(
    "content", [b"", b"\n", HEADER, HEADER + b"-", HEADER + b"- ", HEADER + b"# {"]
)
def test_empty_cassettes(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    assert load_cassette(path) == []


@pytest.mark.parametrize("last_body", [b'{"last": true}', "\U0001f600".encode(), b"\xff\xfe"])
def test_an_append_cut_anywhere_leaves_a_file_vcrpy_loads(tmp_path: Path, last_body: bytes) -> None:
    whole = [make(0), make(1, body=b"\x00\x01"), make(2)]
    prefix = HEADER + b"".join(encode_interaction(i) for i in whole)
    last = encode_interaction(make(3, body=last_body))
    uncommitted = b"#" + last[1:]  # what an append writes before its one-byte commit
    path = tmp_path / "cut.yaml"
    for cut in range(len(uncommitted) + 1):
        data = prefix + uncommitted[:cut]
        path.write_bytes(data)
        assert len(vcr_load(data)[0]) == 3, cut
        assert load_cassette(path) == whole, cut
    data = prefix + last  # committed
    assert len(vcr_load(data)[0]) == 4
    path.write_bytes(data)
    assert load_cassette(path) == [*whole, make(3, body=last_body)]


def test_a_committed_item_cut_short_is_skipped_by_our_loader(tmp_path: Path) -> None:
    # Not a state appends leave (an item is committed only once whole), but a lost page
    # after a power cut could; our loader still keeps every whole item.
    whole = [make(0), make(1, body=b"\x00\x01")]
    prefix = HEADER + b"".join(encode_interaction(i) for i in whole)
    last = encode_interaction(make(2, body=b"\xff"))
    path = tmp_path / "cut.yaml"
    for cut in range(len(last)):
        path.write_bytes(prefix + last[:cut])
        expected = [*whole, make(2, body=b"\xff")] if cut == len(last) - 1 else whole
        assert load_cassette(path) == expected, cut


async def test_uncommitted_lines_are_skipped_and_appended_after(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    uncommitted = b"#" + encode_interaction(make(1))[1:]
    path.write_bytes(HEADER + encode_interaction(make(0)) + uncommitted)
    assert load_cassette(path) == [make(0)]
    async with await CassetteWriter.open(path) as writer:
        writer.append(make(2))
    assert load_cassette(path) == [make(0), make(2)]
    assert len(vcr_load(path.read_bytes())[0]) == 2
    assert uncommitted in path.read_bytes()  # appended after, not rewritten


# -- playback through VCR.py ---------------------------------------------------------------


async def test_vcrpy_plays_what_we_write(tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{closed_port()}/portal-api/products/1/client_types"
    json_one = make(1, uri=base)
    binary = Interaction(
        RecordedRequest("GET", f"{base}?binary=1"),
        RecordedResponse(
            418, "I'm a teapot", (("Content-Type", "application/octet-stream"),), b"\x00\xff\x80"
        ),
    )
    path = tmp_path / "played.yaml"
    async with await CassetteWriter.open(path) as writer:
        writer.append(json_one)
        writer.append(binary)
    with vcr.use_cassette(str(path), record_mode="none"):
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}?n=1") as response:
                assert response.status == 200
                assert response.reason == "OK"
                assert response.headers["Content-Type"] == "application/json"
                assert response.headers["Set-Cookie"] == "REDACTED"
                assert await response.read() == json_one.response.body
                assert await response.json() == {"data": [{"id": 1, "name": "né"}]}
            async with session.get(f"{base}?binary=1") as response:
                assert response.status == 418
                assert response.reason == "I'm a teapot"
                assert await response.read() == b"\x00\xff\x80"
            with pytest.raises(vcr.errors.CannotOverwriteExistingCassetteException):
                await session.get(f"{base}?n=2")


# -- writing -------------------------------------------------------------------------------


async def test_first_write_has_the_header_and_an_item(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "new.yaml"
    writer = await CassetteWriter.open(path)
    try:
        assert not path.exists()  # nothing written before there is something to write
        writer.append(make(0))
        await writer.flush()
        data = path.read_bytes()
        assert data == HEADER + encode_interaction(make(0))
        await writer.flush()  # nothing new: nothing written
        assert path.read_bytes() == data
        writer.append(make(1))
        await writer.flush()
        assert load_cassette(path) == [make(0), make(1)]
    finally:
        await writer.close()
    with pytest.raises(RuntimeError, match="closed"):
        writer.append(make(2))
    await writer.close()  # twice is fine


async def test_appends_reach_disk_within_a_second(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    async with await CassetteWriter.open(path) as writer:
        for i in range(3):
            writer.append(make(i))
            deadline = time.monotonic() + 1.0
            while not (path.exists() and len(load_cassette(path)) == i + 1):
                assert time.monotonic() < deadline, f"interaction {i} not on disk after 1 s"
                await asyncio.sleep(0.02)


async def test_a_full_buffer_is_written_without_waiting(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    async with await CassetteWriter.open(path, flush_interval=60, max_buffer=1) as writer:
        writer.append(make(0))
        for _ in range(100):
            await asyncio.sleep(0.01)
            if path.exists():
                break
        assert load_cassette(path) == [make(0)]


async def test_concurrent_appends_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    writer = await CassetteWriter.open(path, flush_interval=0.01, max_buffer=4096)

    async def record(i: int) -> None:
        await asyncio.sleep(0.001 * (i % 7))
        writer.append(make(i))

    await asyncio.gather(*(record(i) for i in range(500)))
    await writer.close()
    loaded = load_cassette(path)
    assert len(loaded) == 500
    assert sorted(i.request.uri for i in loaded) == sorted(make(i).request.uri for i in range(500))
    assert len(vcr_load(path.read_bytes())[0]) == 500


async def test_a_second_recorder_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    first = await CassetteWriter.open(path)
    try:
        with pytest.raises(CassetteLockedError, match="another portal-proxy is recording to"):
            await CassetteWriter.open(path)
        script = (
            "import asyncio, sys\n"
            "from pathlib import Path\n"
            "from proxy.storage import CassetteWriter, CassetteLockedError\n"
            "try:\n"
            "    asyncio.run(CassetteWriter.open(Path(sys.argv[1])))\n"
            "except CassetteLockedError as exc:\n"
            "    print(exc)\n"
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, str(path), stdout=asyncio.subprocess.PIPE
        )
        out, _ = await process.communicate()
        assert f"another portal-proxy is recording to {path}" in out.decode()
    finally:
        await first.close()
    second = await CassetteWriter.open(path)  # released on close
    await second.close()
    assert os.listdir(tmp_path) == []  # the lock is not in the user's tree
    assert lock_path(path).exists()


async def test_a_vcrpy_file_is_rewritten_once_then_appended(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    vcrpy_file(path, [make(0), make(1, body=b"\xff")])
    original = path.read_bytes()
    old = load_cassette(path)
    writer = await CassetteWriter.open(path)
    await writer.flush()
    assert path.read_bytes() == original  # untouched until there is something to add
    writer.append(make(2))
    await writer.flush()
    data = path.read_bytes()
    assert data.startswith(HEADER)
    assert data == HEADER + b"".join(encode_interaction(i) for i in [*old, make(2)])
    writer.append(make(3))
    await writer.close()
    assert load_cassette(path) == [*old, make(2), make(3)]
    assert len(vcr_load(path.read_bytes())[0]) == 4
    assert os.listdir(tmp_path) == ["c.yaml"]  # no temporary, no lock file left


async def test_a_truncated_tail_is_repaired_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    last = encode_interaction(make(1))
    path.write_bytes(HEADER + encode_interaction(make(0)) + last[: len(last) // 2])
    async with await CassetteWriter.open(path) as writer:
        writer.append(make(2))
    assert load_cassette(path) == [make(0), make(2)]
    assert len(vcr_load(path.read_bytes())[0]) == 2


async def test_an_appendable_file_is_appended_to_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    write(path, [make(0)])
    inode = path.stat().st_ino
    async with await CassetteWriter.open(path) as writer:
        writer.append(make(1))
    assert path.stat().st_ino == inode
    assert load_cassette(path) == [make(0), make(1)]


async def test_a_broken_file_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"not: [a cassette")
    with pytest.raises(CassetteError, match="invalid YAML"):
        await CassetteWriter.open(path)
    assert path.read_bytes() == b"not: [a cassette"
    with lock_path(path).open("rb") as lock:  # released after the failure
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)


RECORDER = """
import asyncio, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from tests.test_storage import make
from proxy.storage import CassetteWriter

async def main():
    writer = await CassetteWriter.open(Path(sys.argv[1]), flush_interval=0.01)
    i = 0
    while True:
        writer.append(make(i, body=b"x" * (i % 5 * 40_000)))
        i += 1
        if i == 20:
            await writer.flush()
            print("ready", flush=True)
        await asyncio.sleep(0.002)

asyncio.run(main())
"""


@pytest.mark.slow
@pytest.mark.parametrize("run", range(3))
def test_a_killed_recorder_leaves_a_cassette_vcrpy_loads(tmp_path: Path, run: int) -> None:
    path = tmp_path / "killed.yaml"
    root = str(Path(__file__).resolve().parents[1])
    with subprocess.Popen(
        [sys.executable, "-c", RECORDER, str(path), root], stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline() == "ready\n"
            time.sleep(0.1 + 0.1 * run)
        finally:
            process.send_signal(signal.SIGKILL)
    data = path.read_bytes()
    loaded = load_cassette(path)
    requests, _ = vcr_load(data)
    assert len(requests) == len(loaded) >= 20
    assert loaded == [make(i, body=b"x" * (i % 5 * 40_000)) for i in range(len(loaded))]
