"""`import-har` / `export-har`: a HAR captured by a real Chromium becomes a cassette VCR.py
plays, and a cassette becomes a HAR that Playwright's Chromium replays; hand-made HARs for
the edge cases (base64 and compressed bodies, other paths, drift, files that are not HAR)."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import vcr
import yaml
from aiohttp import web

from proxy.cli import main
from proxy.spec import shipped_spec_path
from proxy.standin import Scripted, Standin
from proxy.storage import load_cassette
from tests.browser import playwright_chromium
from tests.conftest import ROUTE, StandinServer, every_file_text, parametrize_table
from tests.servers import start

TOKEN = "browser-token-5f3a"
COOKIE_SECRET = "cookie-secret-4711"
SET_COOKIE_SECRET = "set-cookie-secret-0815"
CREATED = {
    "Name": "web", "ID": 5, "Description": "Web application", "GrantType": "authorization_code",
    "OktaAppType": "web", "CreatedAt": "2023-06-23 21:02", "UpdatedAt": "2023-06-23 21:02",
}  # fmt: skip

# The page a frontend developer would have open: three calls to the route (201, 401 without
# a token, 422 for a bad payload) and one call outside the portal's base path.
PAGE = f"""<!doctype html><title>loading</title><script>
document.cookie = "session={COOKIE_SECRET}; path=/";
const route = "{ROUTE.format(7)}";
async function post(headers, body) {{
  const answer = await fetch(route, {{method: "POST", headers, body}});
  return answer.status + " " + await answer.text();
}}
(async () => {{
  const json = {{"Content-Type": "application/json"}};
  await post({{...json, "Authorization": "{TOKEN}"}}, JSON.stringify({{ID: 5, Name: "web"}}));
  await post(json, "{{}}");
  await post({{...json, "Authorization": "{TOKEN}"}}, JSON.stringify({{ID: "five"}}));
  await fetch("/health");
  document.title = "done";
}})();
</script>"""


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`portal-proxy ARGS` in-process: (exit code, stdout, stderr)."""
    try:
        code: Any = main(list(args))
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return int(code), captured.out, captured.err


async def serve_page(standin: Standin) -> tuple[web.AppRunner, str]:
    """The page at `/` and the stand-in portal under `/portal-api/`, on one origin, so the
    browser's calls are same-origin (no CORS in the way)."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_route("*", "/portal-api/{tail:.*}", standin.handle)
    return await start(app)


@pytest.mark.slow  # starts Chromium twice over (about 4 s)
async def test_a_har_chromium_captured_becomes_a_cassette_and_goes_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    standin = Standin()
    # The first answer gzip-compressed, with a session cookie: the HAR keeps the decoded
    # text and the Content-Encoding header, which the cassette must not keep together.
    standin.script.append(
        Scripted(
            201,
            gzip.compress(orjson.dumps(CREATED)),
            [
                ("Content-Type", "application/json"),
                ("Content-Encoding", "gzip"),
                ("Set-Cookie", f"portal_session={SET_COOKIE_SECRET}; Path=/"),
            ],
        )
    )
    runner, origin = await serve_page(standin)
    captured, cassettes, out = tmp_path / "capture.har", tmp_path / "cassettes", tmp_path / "out"
    async with playwright_chromium() as browser:
        context = await browser.new_context(record_har_path=str(captured))
        page = await context.new_page()
        await page.goto(origin + "/")
        await page.wait_for_function("document.title === 'done'", timeout=10_000)
        await context.close()  # writes the HAR
        await runner.cleanup()  # from here on, only recordings can answer
        har = orjson.loads(captured.read_bytes())["log"]
        assert har["creator"]["name"] == "Playwright"
        assert TOKEN in captured.read_text() and COOKIE_SECRET in captured.read_text()

        code, stdout, _ = run_cli(
            capsys, "import-har", str(captured), "--cassette", "browser",
            "--cassette-dir", str(cassettes),
        )  # fmt: skip
        assert code == 0, stdout
        assert "3 interaction(s) written" in stdout
        assert "2 HAR entries skipped (2 outside /portal-api)" in stdout  # the page, /health
        path = cassettes / "browser.yaml"
        with vcr.use_cassette(str(path), record_mode="none") as cassette:
            assert len(cassette) == 3
            async with (
                aiohttp.ClientSession() as client,
                client.post(
                    origin + ROUTE.format(7), json={"ID": 5}, headers={"Authorization": "x"}
                ) as played,
            ):
                assert played.status == 201
                assert await played.json() == CREATED
                assert "Content-Encoding" not in played.headers
                assert played.headers["Set-Cookie"] == "REDACTED"
        statuses = [i.response.status for i in load_cassette(path)]
        assert statuses == [201, 401, 422]

        code, stdout, _ = run_cli(
            capsys, "export-har", "browser", "--cassette-dir", str(cassettes),
            "-o", str(out / "browser.har"),
        )  # fmt: skip
        assert code == 0
        exported = orjson.loads((out / "browser.har").read_bytes())
        assert_har_12(exported)
        assert [e["response"]["status"] for e in exported["log"]["entries"]] == [201, 401, 422]

        # Chromium, driven by Playwright, answers the page's call from the exported HAR.
        replay = await browser.new_context()
        await replay.route_from_har(str(out / "browser.har"), not_found="abort")
        page = await replay.new_page()
        await page.route(origin + "/", lambda route: route.fulfill(body="<title>replay</title>"))
        await page.goto(origin + "/")
        answer = await page.evaluate(
            """async ([route, body]) => {
                 const r = await fetch(route, {method: "POST", body,
                                               headers: {"Content-Type": "application/json"}});
                 return [r.status, await r.json()];
               }""",
            [ROUTE.format(7), '{"ID":5,"Name":"web"}'],
        )
        assert answer == [201, CREATED]
        await replay.close()

    # Back again: the exported HAR imports to the same interactions.
    code, _, _ = run_cli(
        capsys, "import-har", str(out / "browser.har"), "--cassette", "again",
        "--cassette-dir", str(cassettes),
    )  # fmt: skip
    assert code == 0
    assert load_cassette(cassettes / "again.yaml") == load_cassette(path)
    written = every_file_text(cassettes, out)
    for secret in (TOKEN, COOKIE_SECRET, SET_COOKIE_SECRET):
        assert secret not in written


def assert_har_12(document: dict[str, Any]) -> None:
    """The fields HAR 1.2 requires and Chromium's network panel reads, with their types."""
    log = document["log"]
    assert log["version"] == "1.2"
    assert set(log["creator"]) >= {"name", "version"}
    assert log["entries"]
    for entry in log["entries"]:
        assert entry["startedDateTime"].endswith("Z")
        assert isinstance(entry["time"], int | float)
        request, response = entry["request"], entry["response"]
        for key, kind in (
            ("method", str), ("url", str), ("httpVersion", str), ("headers", list),
            ("queryString", list), ("cookies", list), ("headersSize", int), ("bodySize", int),
        ):  # fmt: skip
            assert isinstance(request[key], kind), key
        if request["bodySize"] > 0:
            assert set(request["postData"]) >= {"mimeType", "text"}
        for key, kind in (
            ("status", int), ("statusText", str), ("httpVersion", str), ("headers", list),
            ("cookies", list), ("content", dict), ("redirectURL", str), ("headersSize", int),
            ("bodySize", int),
        ):  # fmt: skip
            assert isinstance(response[key], kind), key
        assert set(response["content"]) >= {"size", "mimeType", "text"}
        assert isinstance(entry["cache"], dict)
        assert all(isinstance(entry["timings"][k], int) for k in ("send", "wait", "receive"))


# -- hand-made HARs --------------------------------------------------------------------------

URL = "http://portal.example:3001" + ROUTE.format(7)


def entry(
    url: str = URL,
    *,
    status: int = 201,
    content: dict[str, Any] | None = None,
    headers: list[tuple[str, str]] | None = None,
    request_headers: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """A HAR entry as browsers write it (a POST of `{"ID": 5}` by default)."""
    return {
        "startedDateTime": "2026-01-02T03:04:05.678Z",
        "time": 12.5,
        "request": {
            "method": "POST",
            "url": url,
            "httpVersion": "HTTP/1.1",
            "headers": pairs(
                request_headers or [("Authorization", TOKEN), ("Content-Type", "application/json")]
            ),
            "queryString": [],
            "cookies": [],
            "headersSize": -1,
            "bodySize": 9,
            "postData": {"mimeType": "application/json", "text": '{"ID": 5}'},
        },
        "response": {
            "status": status,
            "statusText": "Created",
            "httpVersion": "HTTP/1.1",
            "headers": pairs(headers or [("Content-Type", "application/json")]),
            "cookies": [],
            "content": content or {"size": 1, "mimeType": "application/json", "text": json()},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
        },
        "cache": {},
        "timings": {"send": 1, "wait": 10, "receive": 1.5},
    }


def pairs(items: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in items]


def json(**changes: Any) -> str:
    return orjson.dumps({**CREATED, **changes}).decode()


def write_har(folder: Path, *entries: dict[str, Any], version: str = "1.2") -> Path:
    path = folder / "traffic.har"
    document = {"log": {"version": version, "creator": {"name": "hand"}, "entries": entries}}
    path.write_bytes(orjson.dumps(document))
    return path


def import_har(
    capsys: pytest.CaptureFixture[str], har: Path, *extra: str
) -> tuple[int, str, str, Path]:
    folder = har.parent / "cassettes"
    code, out, err = run_cli(
        capsys, "import-har", str(har), "--cassette", "hand", "--cassette-dir", str(folder),
        *extra,
    )  # fmt: skip
    return code, out, err, folder / "hand.yaml"


def test_a_base64_body_is_stored_as_readable_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    encoded = base64.b64encode(json().encode()).decode()
    content = {"size": 1, "mimeType": "application/json", "text": encoded, "encoding": "base64"}
    code, _, _, path = import_har(capsys, write_har(tmp_path, entry(content=content)))
    assert code == 0
    stored = yaml.safe_load(path.read_text())["interactions"][0]["response"]["body"]["string"]
    assert orjson.loads(stored) == CREATED


@pytest.mark.parametrize("compressed", [False, True], ids=["decoded-text", "gzip-base64"])
async def test_a_compressed_response_is_stored_decoded_without_content_encoding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], compressed: bool
) -> None:
    # Browsers store the decoded text beside `Content-Encoding: gzip`; some tools keep the
    # compressed bytes (base64). Either way the cassette holds JSON, and no stale header.
    body = json().encode()
    content = {"size": 1, "mimeType": "application/json", "text": body.decode()}
    if compressed:
        content = {**content, "text": base64.b64encode(gzip.compress(body)).decode()}
        content["encoding"] = "base64"
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Encoding", "gzip"),
        ("Content-Length", "77"),
        ("Transfer-Encoding", "chunked"),
    ]
    code, _, _, path = import_har(
        capsys, write_har(tmp_path, entry(content=content, headers=headers))
    )
    assert code == 0
    with vcr.use_cassette(str(path), record_mode="none"):
        async with aiohttp.ClientSession() as client, client.post(URL, json={"ID": 5}) as played:
            assert await played.json() == CREATED
            assert "Content-Encoding" not in played.headers
            assert played.headers["Content-Length"] == str(len(body))


def test_entries_outside_the_base_path_are_counted_and_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    har = write_har(
        tmp_path,
        entry("http://portal.example:3001/products/7/client_types"),  # no /portal-api
        entry(),
        entry("http://portal.example:3001/static/app.js", status=200),
        entry(status=0),  # the browser got no answer
    )
    code, out, _, path = import_har(capsys, har)
    assert code == 0
    assert "1 interaction(s) written" in out
    assert "3 HAR entries skipped (2 outside /portal-api, 1 no response (status 0))" in out
    assert [i.request.uri for i in load_cassette(path)] == [URL]


def test_a_response_with_an_error_exits_1_and_is_still_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drifted = entry(content={"size": 1, "mimeType": "application/json", "text": json(ID="x")})
    code, out, _, path = import_har(capsys, write_har(tmp_path, entry(), drifted))
    assert code == 1
    assert "#1 POST " + URL in out
    assert "Error response.body.ID (type): " in out  # the one line check prints too
    assert "violation(s), errors found" in out
    assert len(load_cassette(path)) == 2


def test_secrets_in_headers_cookies_and_the_query_are_redacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A spec whose security scheme is an API key in the query: its value must go too.
    document = yaml.safe_load(shipped_spec_path().read_text())
    document["components"]["securitySchemes"] = {
        "key": {"type": "apiKey", "in": "query", "name": "api_key"}
    }
    spec = tmp_path / "spec.json"
    spec.write_bytes(orjson.dumps(document))
    har_entry = entry(
        URL + "?api_key=query-secret-1",
        request_headers=[("Authorization", TOKEN), ("Cookie", f"s={COOKIE_SECRET}")],
        headers=[
            ("Content-Type", "application/json"),
            ("Set-Cookie", f"s={SET_COOKIE_SECRET}"),
            ("X-Api-Secret", "custom-secret-2"),
        ],
    )
    har_entry["request"]["queryString"] = [{"name": "api_key", "value": "query-secret-1"}]
    har_entry["request"]["cookies"] = [{"name": "s", "value": COOKIE_SECRET}]
    har_entry["response"]["cookies"] = [{"name": "s", "value": SET_COOKIE_SECRET}]
    (tmp_path / "in").mkdir()
    har = write_har(tmp_path / "in", har_entry)
    code, _, _, path = import_har(
        capsys, har, "--spec", str(spec), "--filter-header", "x-api-secret"
    )
    assert code == 0
    code, _, _ = run_cli(capsys, "export-har", str(path), "-o", str(path.parent / "out.har"))
    assert code == 0
    written = every_file_text(path.parent)
    assert "api_key=REDACTED" in written
    for secret in (TOKEN, COOKIE_SECRET, SET_COOKIE_SECRET, "query-secret-1", "custom-secret-2"):
        assert secret not in written


NOT_HAR = (
    ("bad-json", b'{"log": {', "not JSON"),
    ("version-1.1", b'{"log": {"version": "1.1", "entries": []}}', "log.version is '1.1'"),
    ("no-version", b'{"log": {"entries": []}}', "log.version is missing"),
    ("no-entries", b'{"log": {"version": "1.2"}}', "log.entries is missing"),
    ("no-log", b"[]", "log is missing"),
    (
        "status-text",
        orjson.dumps({"log": {"version": "1.2", "entries": [{"request": {}, "response": {}}]}}),
        "log.entries[0].request.method is missing",
    ),
)


@parametrize_table(("data", "named"), NOT_HAR)
def test_a_file_that_is_not_har_is_refused_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, named: str
) -> None:
    har = tmp_path / "traffic.har"
    har.write_bytes(data)
    code, _, err, path = import_har(capsys, har)
    assert code == 2
    assert named in err and "nothing written" in err
    assert not path.parent.exists() or not any(path.parent.iterdir())


def test_a_bad_entry_after_good_ones_refuses_the_whole_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = entry()
    bad["response"]["status"] = "201"
    code, _, err, path = import_har(capsys, write_har(tmp_path, entry(), entry(), bad))
    assert code == 2
    assert "log.entries[2].response.status is a string, expected a number" in err
    assert not path.parent.exists()


def test_an_existing_cassette_is_replaced_only_with_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    har = write_har(tmp_path, entry())
    path = tmp_path / "cassettes" / "hand.yaml"
    path.parent.mkdir()
    path.write_text("version: 1\ninteractions: []\n")
    code, _, err, _ = import_har(capsys, har)
    assert code == 2
    assert "--cassette" in err and "--force" in err
    assert load_cassette(path) == []
    code, _, _, _ = import_har(capsys, har, "--force")
    assert code == 0
    assert len(load_cassette(path)) == 1
    assert [p.name for p in path.parent.iterdir()] == ["hand.yaml"]  # no temporary file left


@parametrize_table(
    ("args", "named"),
    (
        ("bad-name", ("import-har", "x.har", "--cassette", "../up"), "--cassette"),
        ("no-name", ("import-har", "x.har"), "--cassette"),
        ("no-file", ("import-har", "missing.har", "--cassette", "c"), "missing.har"),
        ("no-cassette", ("export-har", "nothing", "-o", "x.har"), "no cassette"),
        ("no-output", ("export-har", "nothing"), "-o/--output"),
    ),
)
def test_bad_options_exit_2_naming_them(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    named: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, *args)
    assert code == 2
    assert named in err
    assert not any(tmp_path.iterdir())


def test_a_har_with_nothing_under_the_base_path_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err, path = import_har(
        capsys, write_har(tmp_path, entry("http://portal.example/static/app.js"))
    )
    assert code == 2
    assert "no entry" in err and "/portal-api" in err
    assert not path.parent.exists()


async def test_a_cassette_vcrpy_recorded_exports_as_har(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], standin: StandinServer
) -> None:
    path = tmp_path / "vcr.yaml"
    with vcr.use_cassette(str(path), record_mode="all"):
        async with (
            aiohttp.ClientSession() as client,
            client.post(
                standin.url + ROUTE.format(7) + "?page=2",
                data=b'{"ID": 5}',
                headers={"Authorization": TOKEN, "Content-Type": "application/json"},
            ) as answer,
        ):
            sent = await answer.json()
    code, _, _ = run_cli(capsys, "export-har", str(path), "-o", str(tmp_path / "vcr.har"))
    assert code == 0
    document = orjson.loads((tmp_path / "vcr.har").read_bytes())
    assert_har_12(document)
    (har_entry,) = document["log"]["entries"]
    assert har_entry["request"]["queryString"] == [{"name": "page", "value": "2"}]
    assert har_entry["request"]["postData"] == {"mimeType": "application/json", "text": '{"ID": 5}'}
    assert orjson.loads(har_entry["response"]["content"]["text"]) == sent
    assert har_entry["response"]["content"]["mimeType"].startswith("application/json")
    # VCR.py kept the token; the HAR, made to be shared, does not.
    assert TOKEN in path.read_text()
    assert TOKEN not in (tmp_path / "vcr.har").read_text()
