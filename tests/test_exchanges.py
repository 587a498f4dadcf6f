"""proxy/sinks/exchanges.py and `/__proxy/exchanges`: the violating exchanges the gateway keeps
for the violations page: bounded, redacted as cassettes are, bodies cut at 64 KiB."""

from __future__ import annotations

import gzip
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from proxy.cli import main
from proxy.redact import Redactor
from proxy.report import ExchangeReport
from proxy.sinks.exchanges import BODY_LIMIT, QUEUE_SIZE, KeptExchanges
from proxy.standin import Scripted
from tests.conftest import ROUTE, GatewayFactory, StandinServer

SECRET = "Bearer s3cret-portal-token-991"
COOKIE_SECRET = "sid=cookie-secret-4242"
SET_COOKIE_SECRET = "session=set-cookie-secret-77"
HEADERS = {"Authorization": SECRET, "Cookie": COOKIE_SECRET, "Content-Type": "application/json"}
JSON = [("Content-Type", "application/json")]


def bad_body(**extra: Any) -> bytes:
    """A 201 body the spec refuses: GrantType is not one of the enum."""
    return orjson.dumps({"ID": 1, "Name": "foo", "GrantType": "bogus", **extra})


async def get_json(session: aiohttp.ClientSession, url: str, **kw: Any) -> Any:
    async with session.get(url, **kw) as answer:
        assert answer.status == 200, await answer.text()
        return await answer.json()


async def test_keeps_the_newest_violating_exchanges_and_counts_the_clean(
    gateway_factory: GatewayFactory, standin: StandinServer, session: aiohttp.ClientSession
) -> None:
    gw = await gateway_factory("proxy", upstream=standin.url, keep_exchanges=3)
    for n in range(5):
        standin.standin.script.append(Scripted(201, bad_body(ID=n), JSON))
        async with session.post(gw.route(), json={"ID": n}, headers=HEADERS) as answer:
            assert answer.status == 201
    for n in range(2):  # clean: the stand-in answers as the portal does
        async with session.post(gw.route(), json={"ID": n}, headers=HEADERS) as answer:
            assert "sl-violations" not in answer.headers

    listing = await get_json(session, f"{gw.url}/__proxy/exchanges")
    assert listing["counts"] == {"clean": 2, "violating": 5, "kept": 3}
    assert listing["keep"] == 3
    kept = listing["exchanges"]
    assert len(kept) == 3 and kept[0]["time"] >= kept[-1]["time"]
    newest = await get_json(session, f"{gw.url}/__proxy/exchanges/{kept[0]['id']}")
    assert newest["response"]["json"]["ID"] == 4  # newest first
    assert newest["method"] == "POST" and newest["status"] == 201
    assert newest["source"] == "upstream" and newest["operation"] != "unknown"
    assert newest["violations"][0]["location"] == ["response", "body", "GrantType"]
    assert newest["request"]["json"] == {"ID": 4}
    assert newest["request"]["target"] == ROUTE.format(1)
    # `/__proxy/violations` keeps its meaning: the recent reports, all five.
    recent = await get_json(session, f"{gw.url}/__proxy/violations")
    assert recent["count"] == 5
    assert await get_json(session, f"{gw.url}/__proxy/exchanges?limit=1") == {
        **listing,
        "exchanges": kept[:1],
    }


async def test_headers_are_redacted_as_in_cassettes(
    gateway_factory: GatewayFactory, standin: StandinServer, session: aiohttp.ClientSession
) -> None:
    gw = await gateway_factory("proxy", upstream=standin.url, filter_header=("X-Team-Key",))
    answer_headers = [*JSON, ("Set-Cookie", SET_COOKIE_SECRET), ("X-Team-Key", "team-secret-1")]
    standin.standin.script.append(Scripted(201, bad_body(), answer_headers))
    headers = {**HEADERS, "X-Team-Key": "team-secret-2"}
    async with session.post(gw.route(), json={"ID": 1}, headers=headers) as answer:
        assert answer.status == 201
    listing = await get_json(session, f"{gw.url}/__proxy/exchanges")
    url = f"{gw.url}/__proxy/exchanges/{listing['exchanges'][0]['id']}"
    async with session.get(url) as answer:
        text = await answer.text()
        detail = orjson.loads(text)
    for secret in (SECRET, COOKIE_SECRET, SET_COOKIE_SECRET, "team-secret-1", "team-secret-2"):
        assert secret not in text
    request = dict(detail["request"]["headers"])
    assert request["Authorization"] == request["Cookie"] == request["X-Team-Key"] == "REDACTED"
    response = dict(detail["response"]["headers"])
    assert response["Set-Cookie"] == response["X-Team-Key"] == "REDACTED"


async def test_bodies_are_cut_at_64_kib_and_flagged(
    gateway_factory: GatewayFactory, standin: StandinServer, session: aiohttp.ClientSession
) -> None:
    gw = await gateway_factory("proxy", upstream=standin.url)
    big_answer = bad_body(Description="d" * 100_000)
    standin.standin.script.append(Scripted(201, big_answer, JSON))
    big_request = orjson.dumps({"ID": 1, "Description": "r" * 80_000})
    async with session.post(gw.route(), data=big_request, headers=HEADERS) as answer:
        assert answer.status == 201
    listing = await get_json(session, f"{gw.url}/__proxy/exchanges")
    detail = await get_json(session, f"{gw.url}/__proxy/exchanges/{listing['exchanges'][0]['id']}")
    for side, sent in (("request", big_request), ("response", big_answer)):
        kept = detail[side]
        assert kept["truncated"] is True and kept["size"] == len(sent)
        assert kept["body"] == sent[:BODY_LIMIT].decode()  # cut, not dropped
        assert "json" not in kept  # a cut body is not whole JSON


async def test_a_gzip_response_is_kept_readable(
    gateway_factory: GatewayFactory, standin: StandinServer, session: aiohttp.ClientSession
) -> None:
    gw = await gateway_factory("proxy", upstream=standin.url)
    gzipped = [*JSON, ("Content-Encoding", "gzip")]
    standin.standin.script.append(Scripted(201, gzip.compress(bad_body()), gzipped))
    async with session.post(gw.route(), json={"ID": 1}, headers=HEADERS) as answer:
        assert answer.status == 201
        assert answer.headers["Content-Encoding"] == "gzip"  # the client still gets it as sent
    listing = await get_json(session, f"{gw.url}/__proxy/exchanges")
    detail = await get_json(session, f"{gw.url}/__proxy/exchanges/{listing['exchanges'][0]['id']}")
    assert detail["response"]["json"]["GrantType"] == "bogus"


async def test_mock_keeps_a_developers_bad_request(
    gateway_factory: GatewayFactory, session: aiohttp.ClientSession
) -> None:
    gw = await gateway_factory("mock")
    async with session.post(gw.route(), json={"ID": "five"}, headers=HEADERS) as answer:
        assert answer.status == 422
    listing = await get_json(session, f"{gw.url}/__proxy/exchanges")
    (item,) = listing["exchanges"]
    assert item["source"] == "mock" and item["status"] == 422
    assert item["violations"][0]["location"][:2] == ["request", "body"]
    detail = await get_json(session, f"{gw.url}/__proxy/exchanges/{item['id']}")
    assert detail["request"]["json"] == {"ID": "five"}
    assert dict(detail["request"]["headers"])["Authorization"] == "REDACTED"


async def test_replay_keeps_a_recording_that_no_longer_fits_the_spec(
    gateway_factory: GatewayFactory, standin: StandinServer, session: aiohttp.ClientSession
) -> None:
    recorder = await gateway_factory("record", upstream=standin.url, cassette="old")
    standin.standin.script.append(Scripted(201, bad_body(), JSON))
    async with session.post(recorder.route(), json={"ID": 1}, headers=HEADERS) as answer:
        assert answer.status == 201
    await recorder.runner.cleanup()  # flushes the cassette
    gw = await gateway_factory("replay", cassette="old")
    async with session.post(gw.route(), json={"ID": 1}, headers=HEADERS) as answer:
        assert answer.status == 201
    (item,) = (await get_json(session, f"{gw.url}/__proxy/exchanges"))["exchanges"]
    assert item["source"] == "cassette"
    assert item["violations"][0]["location"] == ["response", "body", "GrantType"]


async def test_an_exchange_no_longer_kept_is_a_404_and_bad_limits_a_400(
    mock_gateway: Any, session: aiohttp.ClientSession
) -> None:
    async with session.get(f"{mock_gateway.url}/__proxy/exchanges/nope") as answer:
        assert answer.status == 404
        assert "--keep-exchanges" in (await answer.json())["detail"]
    for limit in ("x", "0"):
        async with session.get(f"{mock_gateway.url}/__proxy/exchanges?limit={limit}") as answer:
            assert answer.status == 400


def report(n: int) -> ExchangeReport:
    return ExchangeReport(
        request_id=f"r{n}",
        time=float(n),
        mode="mock",
        method="POST",
        path="/p",
        operation_id=None,
        status=422,
        source="mock",
        violations=[{"location": ["request"], "severity": "Error", "code": 1, "message": "m"}],
    )


async def test_memory_is_bounded_and_a_slow_subscriber_is_dropped_not_grown() -> None:
    store = KeptExchanges(Redactor(), size=10)
    subscriber = store.subscribe()
    for n in range(QUEUE_SIZE + 50):
        store.emit(report(n), web.Response(), None)
    assert len(store.list()) == 10 and store.counts()["violating"] == QUEUE_SIZE + 50
    # It fell behind: what was waiting is dropped, and its stream told to end.
    assert subscriber.queue.qsize() == 1 and subscriber.queue.get_nowait() is None
    store.emit(report(0), web.Response(), None)
    assert subscriber.queue.empty()  # no longer fed


@pytest.mark.parametrize("value", ["-1", "many", "1.5"])
def test_a_bad_keep_exchanges_exits_2_naming_it(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["mock", "--keep-exchanges", value])
    assert exit_info.value.code == 2
    assert "--keep-exchanges" in capsys.readouterr().err
