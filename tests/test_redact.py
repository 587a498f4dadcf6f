"""Tests for proxy.redact: which values are secrets, and that nothing else changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from proxy.redact import REDACTED, Redactor
from proxy.standin import Scripted
from tests.conftest import GatewayFactory, StandinServer
from tests.recording import AUTH, post, record

R = REDACTED
REDACTOR = Redactor(header_names=["X-Api-Key"], query_names=["api_key", "token"])


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("Authorization", "Bearer abc")], [("Authorization", R)]),
        ([("authorization", "Basic eA==")], [("authorization", R)]),
        ([("Proxy-Authorization", "Basic eA==")], [("Proxy-Authorization", R)]),
        ([("x-api-KEY", "k1")], [("x-api-KEY", R)]),
        ([("Set-Cookie", "session=s; Path=/; HttpOnly")], [("Set-Cookie", R)]),
        ([("Set-Cookie", "theme=dark")], [("Set-Cookie", R)]),
        # A browser session is a credential: the whole Cookie header goes.
        ([("Cookie", "session=s1; theme=dark")], [("Cookie", R)]),
        ([("Cookie", "theme=dark")], [("Cookie", R)]),
        ([("cookie", "a=b")], [("cookie", R)]),
        ([("Content-Type", "application/json")], [("Content-Type", "application/json")]),
        (
            [("Accept", "*/*"), ("Authorization", "a"), ("Accept", "x"), ("X-Api-Key", "k")],
            [("Accept", "*/*"), ("Authorization", R), ("Accept", "x"), ("X-Api-Key", R)],
        ),
        ([], []),
    ],
)
def test_headers(pairs: list[tuple[str, str]], expected: list[tuple[str, str]]) -> None:
    assert REDACTOR.headers(pairs) == expected


def test_cookie_is_redacted_even_with_no_names_configured() -> None:
    assert Redactor().headers([("Cookie", "session=s")]) == [("Cookie", R)]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://h/p", "http://h/p"),
        ("http://h/p?", "http://h/p?"),
        ("http://h/p?a=1", "http://h/p?a=1"),
        ("http://h/p?api_key=s", f"http://h/p?api_key={R}"),
        ("http://h/p?b=2&api_key=s&a=%20x", f"http://h/p?b=2&api_key={R}&a=%20x"),
        ("http://h/p?api_key=s&api_key=t", f"http://h/p?api_key={R}&api_key={R}"),
        ("http://h/p?api%5Fkey=s", f"http://h/p?api%5Fkey={R}"),  # encoded name
        ("http://h/p?api_key=", f"http://h/p?api_key={R}"),
        ("http://h/p?api_key", "http://h/p?api_key"),  # no value, nothing to hide
        ("http://h/p?API_KEY=s", "http://h/p?API_KEY=s"),  # parameter names are exact
        ("http://h/p?token=s#frag?token=x", f"http://h/p?token={R}#frag?token=x"),
        ("http://h/p?x=1&&y=+2;z", "http://h/p?x=1&&y=+2;z"),
        ("/relative?token=a=b", f"/relative?token={R}"),
    ],
)
def test_uri(url: str, expected: str) -> None:
    assert REDACTOR.uri(url) == expected


def test_uri_without_query_names_is_identity() -> None:
    assert Redactor().uri("http://h/p?api_key=s") == "http://h/p?api_key=s"


@pytest.mark.parametrize(
    ("schemes", "extra", "secret_header", "secret_query", "secret_cookie"),
    [
        ({}, (), "Authorization", None, None),
        ({"basic": {"type": "http", "scheme": "basic"}}, (), "Authorization", None, None),
        ({"key": {"type": "apiKey", "in": "header", "name": "X-Key"}}, (), "x-key", None, None),
        ({"key": {"type": "apiKey", "in": "query", "name": "k"}}, (), None, "k", None),
        ({"key": {"type": "apiKey", "in": "cookie", "name": "sid"}}, (), None, None, "sid"),
        ({"o": {"type": "oauth2", "flows": {}}}, ["X-Extra"], "X-EXTRA", None, None),
        ({"bad": {"type": "apiKey", "in": "body", "name": "x"}, "junk": "x"}, (), None, None, None),
    ],
)
def test_from_security_schemes(
    schemes: dict[str, Any],
    extra: list[str],
    secret_header: str | None,
    secret_query: str | None,
    secret_cookie: str | None,
) -> None:
    redactor = Redactor.from_security_schemes(schemes, extra_headers=extra)
    headers = [("Authorization", "a"), ("Accept", "b")]
    if secret_header:
        headers.append((secret_header, "s"))
    if secret_cookie:
        headers.append(("Cookie", f"{secret_cookie}=s; other=o"))
    redacted = dict(redactor.headers(headers))
    assert redacted["Authorization"] == R
    assert redacted["Accept"] == "b"
    if secret_header:
        assert redacted[secret_header] == R
    if secret_cookie:
        assert redacted["Cookie"] == R
    url = f"http://h/p?{secret_query or 'q'}=s&x" + "=1"
    expected = f"http://h/p?{secret_query}={R}&x=1" if secret_query else url
    assert redactor.uri(url) == expected


async def test_secrets_are_redacted_in_the_cassette(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    standin.standin.script.append(
        Scripted(
            201,
            b'{"ID": 1}',
            [
                ("Content-Type", "application/json"),
                ("Set-Cookie", "session=cookie-secret-1; HttpOnly"),
                ("X-Internal-Key", "internal-secret-2"),
            ],
        )
    )
    gw = await record(gateway_factory, standin, tmp_path, filter_header=("X-Internal-Key",))
    headers = {**AUTH, "Authorization": "token-secret-0", "X-Internal-Key": "internal-secret-3"}
    status, live, _ = await post(session, gw.route(1), headers=headers)
    assert status == 201
    assert live["Set-Cookie"].startswith("session=cookie-secret-1")  # the client still gets it
    # ...and the upstream got the real credential.
    assert dict(standin.standin.received[0].headers)["Authorization"] == "token-secret-0"
    await gw.runner.cleanup()
    text = (tmp_path / "cassettes" / "rec.yaml").read_text()
    for secret in ("token-secret-0", "cookie-secret-1", "internal-secret-2", "internal-secret-3"):
        assert secret not in text
    assert "REDACTED" in text
