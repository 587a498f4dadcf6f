"""Upstream TLS: real https stand-ins on loopback with CAs that trustme makes, the options that
trust them, and the 502s that say what was wrong when nothing does."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
import trustme
from aiohttp import web

from proxy.settings import Settings, SettingsError, check
from proxy.standin import Standin
from tests.cli_process import command
from tests.conftest import TOKEN_HEADERS, GatewayFactory, Running

BODY = {"ID": 1, "Name": "tls"}
ServeTLS = Callable[..., Awaitable[str]]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def https_standin(ca: trustme.CA) -> AsyncIterator[ServeTLS]:
    """Start the stand-in portal over https: `await serve(cert, client_ca=None)` -> its URL."""
    runners: list[web.AppRunner] = []

    async def serve(cert: trustme.LeafCert, client_ca: trustme.CA | None = None) -> str:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        if client_ca is not None:
            client_ca.configure_trust(context)
            context.verify_mode = ssl.CERT_REQUIRED
        runner = web.AppRunner(Standin().app(), access_log=None)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        return f"https://127.0.0.1:{runner.addresses[0][1]}"

    yield serve
    for runner in runners:
        await runner.cleanup()


def write_ca(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


async def post(session: aiohttp.ClientSession, gw: Running) -> tuple[int, dict[str, object]]:
    async with session.post(gw.route(1), json=BODY, headers=TOKEN_HEADERS) as response:
        return response.status, await response.json(content_type=None)


async def test_a_private_ca_is_refused_until_trusted_with_upstream_ca(
    gateway_factory: GatewayFactory,
    https_standin: ServeTLS,
    session: aiohttp.ClientSession,
    ca: trustme.CA,
    tmp_path: Path,
) -> None:
    upstream = await https_standin(ca.issue_cert("127.0.0.1"))
    untrusting = await gateway_factory("proxy", upstream=upstream)
    status, body = await post(session, untrusting)
    assert status == 502
    assert body["type"] == "urn:portal-proxy:problem:upstream-tls"
    detail = str(body["detail"])
    assert "certificate verify failed" in detail
    assert upstream in detail
    assert "--upstream-ca" in detail  # says what fixes it

    trusting = await gateway_factory("proxy", upstream=upstream, upstream_ca=write_ca(ca, tmp_path))
    status, body = await post(session, trusting)
    assert status == 201
    assert body["ID"] == 1


async def test_upstream_insecure_accepts_any_certificate(
    gateway_factory: GatewayFactory,
    https_standin: ServeTLS,
    session: aiohttp.ClientSession,
    ca: trustme.CA,
    caplog: pytest.LogCaptureFixture,
) -> None:
    expired = ca.issue_cert(
        "portal.example", not_before=dt.datetime(2020, 1, 1), not_after=dt.datetime(2021, 1, 1)
    )
    upstream = await https_standin(expired)
    gw = await gateway_factory("proxy", upstream=upstream, upstream_insecure=True)
    status, _ = await post(session, gw)
    assert status == 201
    warnings = [r for r in caplog.records if "--upstream-insecure" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelname == "WARNING"


@pytest.mark.parametrize(
    ("hostname", "not_after", "words"),
    [
        ("127.0.0.1", dt.datetime(2021, 1, 1), "certificate expired"),
        ("portal.example", None, "hostname mismatch"),
    ],
    ids=["expired", "wrong-host"],
)
async def test_a_bad_certificate_is_a_502_saying_what_is_wrong(
    gateway_factory: GatewayFactory,
    https_standin: ServeTLS,
    session: aiohttp.ClientSession,
    ca: trustme.CA,
    tmp_path: Path,
    hostname: str,
    not_after: dt.datetime | None,
    words: str,
) -> None:
    not_before = dt.datetime(2020, 1, 1) if not_after else None
    cert = ca.issue_cert(hostname, not_before=not_before, not_after=not_after)
    upstream = await https_standin(cert)
    gw = await gateway_factory("proxy", upstream=upstream, upstream_ca=write_ca(ca, tmp_path))
    status, body = await post(session, gw)
    assert status == 502
    assert body["type"] == "urn:portal-proxy:problem:upstream-tls"
    assert words in str(body["detail"])


async def test_a_client_certificate_is_presented_when_configured(
    gateway_factory: GatewayFactory,
    https_standin: ServeTLS,
    session: aiohttp.ClientSession,
    ca: trustme.CA,
    tmp_path: Path,
) -> None:
    clients = trustme.CA()
    upstream = await https_standin(ca.issue_cert("127.0.0.1"), client_ca=clients)
    client = clients.issue_cert("portal-proxy@staging")
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    client.cert_chain_pems[0].write_to_path(str(cert))
    client.private_key_pem.write_to_path(str(key))
    trust = write_ca(ca, tmp_path)

    without = await gateway_factory("proxy", upstream=upstream, upstream_ca=trust)
    status, body = await post(session, without)
    assert status == 502
    assert "--upstream-cert" in str(body["detail"])

    with_cert = await gateway_factory(
        "proxy", upstream=upstream, upstream_ca=trust, upstream_cert=cert, upstream_key=key
    )
    status, body = await post(session, with_cert)
    assert status == 201


async def test_record_mode_takes_the_tls_options_too(
    gateway_factory: GatewayFactory,
    https_standin: ServeTLS,
    session: aiohttp.ClientSession,
    ca: trustme.CA,
    tmp_path: Path,
) -> None:
    upstream = await https_standin(ca.issue_cert("127.0.0.1"))
    gw = await gateway_factory(
        "record", upstream=upstream, upstream_ca=write_ca(ca, tmp_path), cassette="tls"
    )
    status, _ = await post(session, gw)
    assert status == 201
    await gw.runner.cleanup()
    assert upstream in (tmp_path / "cassettes" / "tls.yaml").read_text()


# -- bad files: refused at start, naming the option ------------------------------------------


def _files(tmp_path: Path, ca: trustme.CA) -> dict[str, Path]:
    leaf = ca.issue_cert("client")
    (tmp_path / "not.pem").write_text("just some text\n")
    (tmp_path / "cert.pem").write_bytes(leaf.cert_chain_pems[0].bytes())
    (tmp_path / "key.pem").write_bytes(leaf.private_key_pem.bytes())
    (tmp_path / "other.key").write_bytes(ca.issue_cert("other").private_key_pem.bytes())
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    return {p.name: p for p in tmp_path.iterdir()}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"upstream_ca": "missing.pem"}, "--upstream-ca: no such file"),
        ({"upstream_ca": "not.pem"}, "--upstream-ca: "),
        ({"upstream_ca": "."}, "--upstream-ca: "),
        ({"upstream_cert": "cert.pem"}, "--upstream-cert: needs --upstream-key"),
        ({"upstream_key": "key.pem"}, "--upstream-key: needs --upstream-cert"),
        ({"upstream_cert": "cert.pem", "upstream_key": "not.pem"}, "--upstream-key: "),
        ({"upstream_cert": "not.pem", "upstream_key": "key.pem"}, "--upstream-cert: "),
        ({"upstream_cert": "cert.pem", "upstream_key": "other.key"}, "--upstream-cert/"),
        ({"upstream_ca": "ca.pem", "upstream_insecure": True}, "--upstream-insecure: "),
    ],
    ids=[
        "ca-missing", "ca-not-pem", "ca-folder", "cert-alone", "key-alone", "key-not-pem",
        "cert-not-pem", "key-of-another-cert", "ca-and-insecure",
    ],
)  # fmt: skip
def test_bad_tls_files_are_refused_naming_the_option(
    tmp_path: Path, ca: trustme.CA, changes: dict[str, object], message: str
) -> None:
    _files(tmp_path, ca)
    resolved = {
        key: tmp_path / value if isinstance(value, str) else value for key, value in changes.items()
    }
    settings = Settings(mode="proxy", upstream="https://portal.example", **resolved)  # type: ignore[arg-type]
    with pytest.raises(SettingsError) as raised:
        check(settings)
    assert str(raised.value).startswith(message)


def test_the_cli_exits_2_naming_the_option_and_its_variable(tmp_path: Path) -> None:
    (tmp_path / "not.pem").write_text("nope")
    result = subprocess.run(
        command("proxy", "--upstream", "https://portal.example", "--port", "0"),
        env={"PORTAL_PROXY_UPSTREAM_CA": str(tmp_path / "not.pem"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "--upstream-ca (from PORTAL_PROXY_UPSTREAM_CA)" in result.stderr
    assert "is not a PEM file" in result.stderr


# -- HTTPS_PROXY / HTTP_PROXY / NO_PROXY -----------------------------------------------------


@pytest.fixture
async def forward_proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """A tiny forward proxy (CONNECT tunnels and absolute-form requests), and the request
    lines it saw."""
    seen: list[str] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        line = head.split(b"\r\n", 1)[0].decode()
        seen.append(line)
        method, target, version = line.split(" ")
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:  # http://host:port/path -> /path, to the host
            rest = target.split("://", 1)[1]
            hostport, _, path = rest.partition("/")
            host, port = hostport.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            up_writer.write(f"{method} /{path} {version}\r\n".encode())
            up_writer.write(head.split(b"\r\n", 1)[1])
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", seen
    server.close()


async def test_https_proxy_tunnels_to_a_tls_upstream_and_no_proxy_bypasses_it(
    gateway_factory: GatewayFactory,
    https_standin: ServeTLS,
    session: aiohttp.ClientSession,
    ca: trustme.CA,
    tmp_path: Path,
    forward_proxy: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy_url, seen = forward_proxy
    upstream = await https_standin(ca.issue_cert("127.0.0.1"))
    for name in ("https_proxy", "http_proxy", "no_proxy", "HTTP_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", proxy_url)
    trust = write_ca(ca, tmp_path)
    gw = await gateway_factory("proxy", upstream=upstream, upstream_ca=trust)
    status, _ = await post(session, gw)
    assert status == 201
    assert f"CONNECT {upstream.removeprefix('https://')} HTTP/1.1" in seen

    seen.clear()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    bypassing = await gateway_factory("proxy", upstream=upstream, upstream_ca=trust)
    status, _ = await post(session, bypassing)
    assert status == 201
    assert not [line for line in seen if "CONNECT" in line or "POST" in line]


async def test_http_proxy_carries_a_plain_http_upstream(
    gateway_factory: GatewayFactory,
    session: aiohttp.ClientSession,
    forward_proxy: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy_url, seen = forward_proxy
    runner = web.AppRunner(Standin().app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    upstream = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        for name in ("https_proxy", "http_proxy", "no_proxy", "HTTPS_PROXY", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        gw = await gateway_factory("proxy", upstream=upstream)
        status, _ = await post(session, gw)
        assert status == 201
        assert f"POST {upstream}/portal-api/products/1/client_types HTTP/1.1" in seen
    finally:
        await runner.cleanup()
