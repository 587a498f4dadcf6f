"""Tests for proxy.cassette: matchers, playback order, and near-miss reports."""

from __future__ import annotations

import tracemalloc

import pytest

from proxy.cassette import (
    DEFAULT_MATCH_ON,
    MATCHERS,
    Cassette,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    canonical_body,
)
from proxy.redact import REDACTED

BASE = "http://127.0.0.1:5000/portal-api/products/1/client_types"


def req(
    method: str = "GET",
    uri: str = BASE,
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
) -> RecordedRequest:
    return RecordedRequest(method, uri, headers, body)


def rec(request: RecordedRequest, body: bytes = b"{}", status: int = 200) -> Interaction:
    return Interaction(request, RecordedResponse(status, "OK", (), body))


# (matcher, recorded, received, equal?)
MATCHER_CASES = [
    ("method", req("GET"), req("GET"), True),
    ("method", req("GET"), req("POST"), False),
    ("scheme", req(uri="http://h/a"), req(uri="http://x/b"), True),
    ("scheme", req(uri="http://h/a"), req(uri="https://h/a"), False),
    ("host", req(uri="http://H.example/a"), req(uri="http://h.example:1/b"), True),
    ("host", req(uri="http://a/"), req(uri="http://b/"), False),
    ("port", req(uri="http://h/"), req(uri="http://h:80/"), True),
    ("port", req(uri="https://h/"), req(uri="https://h:443/"), True),
    ("port", req(uri="http://h:5000/"), req(uri="http://h:5001/"), False),
    ("path", req(uri="http://h/a?x=1"), req(uri="http://g/a?y=2"), True),
    ("path", req(uri="http://h"), req(uri="http://h/"), True),
    ("path", req(uri="http://h/a"), req(uri="http://h/a/"), False),
    ("query", req(uri="http://h/?a=1&b=2"), req(uri="http://h/?b=2&a=1"), True),
    ("query", req(uri="http://h/?a=%20x"), req(uri="http://h/?a=+x"), True),
    ("query", req(uri="http://h/?a=1&a=2"), req(uri="http://h/?a=2&a=1"), True),
    ("query", req(uri="http://h/?a=1"), req(uri="http://h/?a=2"), False),
    ("query", req(uri="http://h/?a="), req(uri="http://h/"), False),
    ("body", req(body=b'{"a": 1, "b": [1, 2]}'), req(body=b'{"b":[1,2],"a":1}'), True),
    ("body", req(body=b'{"a": {"y": 1, "x": 2}}'), req(body=b'{"a":{"x":2,"y":1}}'), True),
    ("body", req(body=b'{"a": 1}'), req(body=b'{"a": 2}'), False),
    ("body", req(body=b"[1, 2]"), req(body=b"[2, 1]"), False),
    ("body", req(body=b"not json"), req(body=b"not json"), True),
    ("body", req(body=b"not json"), req(body=b"not  json"), False),
    ("body", req(body=b""), req(body=b""), True),
    ("body", req(body=b"\xff\xfe"), req(body=b"\xff\xfe"), True),
    ("raw_body", req(body=b'{"a":1}'), req(body=b'{"a": 1}'), False),
    ("raw_body", req(body=b'{"a":1}'), req(body=b'{"a":1}'), True),
    ("headers", req(headers=(("Accept", "x"),)), req(headers=(("accept", "x"),)), True),
    ("headers", req(headers=(("Accept", "x"),)), req(headers=(("Accept", "y"),)), False),
    (
        "headers",
        req(headers=(("A", "1"), ("Date", "d1"), ("Content-Length", "3"), ("Connection", "c"))),
        req(headers=(("Date", "d2"), ("A", "1"), ("Host", "gateway:8080"))),
        True,
    ),
    (
        "headers",
        req(headers=(("Authorization", REDACTED), ("X-Key", REDACTED))),
        req(headers=(("Authorization", REDACTED),)),
        True,
    ),
    ("uri", req(uri="http://h/a?x=1"), req(uri="http://h/a?x=1"), True),
    ("uri", req(uri="http://h"), req(uri="http://h/"), True),
    ("uri", req(uri="http://h/a?x=1&y=2"), req(uri="http://h/a?y=2&x=1"), False),
]


@pytest.mark.parametrize(("matcher", "recorded", "received", "equal"), MATCHER_CASES)
def test_matcher(
    matcher: str, recorded: RecordedRequest, received: RecordedRequest, equal: bool
) -> None:
    cassette = Cassette("c", match_on=[matcher], interactions=[rec(recorded)])
    assert (cassette.find(received) is not None) is equal


def test_every_vcrpy_matcher_is_known() -> None:
    assert set(MATCHERS) == {
        "method",
        "scheme",
        "host",
        "port",
        "path",
        "query",
        "body",
        "raw_body",
        "headers",
        "uri",
    }
    assert DEFAULT_MATCH_ON == ("method", "path", "query", "body")


def test_unknown_matcher_names_the_bad_one_and_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"'bodyy'.*valid matchers are method, scheme"):
        Cassette("c", match_on=["method", "bodyy"])


def test_default_matching_ignores_host_and_headers() -> None:
    recorded = req("POST", f"{BASE}?b=2&a=1", (("X", "1"),), b'{"name": "x", "n": 1}')
    cassette = Cassette("c", interactions=[rec(recorded)])
    hit = cassette.find(
        req(
            "POST",
            "http://other:1/portal-api/products/1/client_types?a=1&b=2",
            (),
            b'{"n":1,"name":"x"}',
        )
    )
    assert hit is not None
    assert hit.request is recorded
    assert cassette.find(req("POST", BASE, (), b'{"n":1,"name":"x"}')) is None


def test_same_request_plays_in_order_and_the_last_repeats() -> None:
    first, second, other = rec(req(), b"1"), rec(req(), b"2"), rec(req("DELETE"), b"3")
    cassette = Cassette("c", interactions=[first, other, second])
    assert [cassette.find(req()) for _ in range(4)] == [first, second, second, second]
    assert cassette.find(req("DELETE")) is other
    assert cassette.plays == 5
    assert cassette.find(req("PUT")) is None
    assert cassette.plays == 5


def test_add_appends_and_indexes() -> None:
    cassette = Cassette("c")
    assert len(cassette) == 0
    assert cassette.find(req()) is None
    interaction = rec(req())
    cassette.add(interaction)
    assert len(cassette) == 1
    assert list(cassette.interactions) == [interaction]
    assert cassette.find(req()) is interaction


def test_a_recording_added_after_plays_continues_the_order() -> None:
    first, second, third = rec(req(), b"1"), rec(req(), b"2"), rec(req(), b"3")
    cassette = Cassette("c", interactions=[first])
    assert [cassette.find(req()) for _ in range(2)] == [first, first]
    cassette.add(second)  # the first was played: the new one is next
    assert [cassette.find(req()) for _ in range(2)] == [second, second]
    cassette.add(third)
    assert [cassette.find(req()) for _ in range(2)] == [third, third]
    unplayed = Cassette("c", interactions=[first])
    unplayed.add(second)
    assert [unplayed.find(req()) for _ in range(3)] == [first, second, second]


@pytest.mark.parametrize("match_on", [DEFAULT_MATCH_ON, ("method", "uri"), ("headers", "body")])
def test_more_distinct_requests_than_the_key_memo_holds(match_on: tuple[str, ...]) -> None:
    # The memo of recent keys is bounded: past its size, requests must still all match.
    interactions = [
        rec(req("POST", f"{BASE}?n={i}", (("X", str(i)),), b'{"n": %d}' % i), b"%d" % i)
        for i in range(5000)
    ]
    cassette = Cassette("c", match_on, interactions)
    for _ in range(2):
        for i in range(5000):
            received = req("POST", f"{BASE}?n={i}", (("x", str(i)),), b'{ "n":%d }' % i)
            assert cassette.find(received) is interactions[i]
    assert cassette.find(req("POST", f"{BASE}?n=-1", (("X", "-1"),), b'{"n": -1}')) is None


@pytest.mark.parametrize(
    ("body", "canonical"),
    [
        (b"", b""),
        (b'{"a":1}', b'{"a":1}'),
        (b'{"b": 2, "a": [1, {"d": 0, "c": 1}]}', b'{"a":[1,{"c":1,"d":0}],"b":2}'),
        (b" [ ] ", b"[]"),
        (b"not json", b"not json"),
        (b"\xff", b"\xff"),
    ],
)
def test_canonical_body(body: bytes, canonical: bytes) -> None:
    assert canonical_body(body) == canonical
    if body == canonical:  # nothing to rewrite: the body itself, not a copy
        assert canonical_body(body) is body


def test_keys_of_many_recordings_keep_no_oversized_buffers() -> None:
    # orjson's output keeps its whole initial buffer (4 KB): 100,000 keys made of such
    # bodies took 400 MB. The canonical bodies a cassette keeps are exact-size copies.
    bodies = [b'{"n": %d, "name": "client type"}' % i for i in range(2000)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [canonical_body(body) for body in bodies]
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept[7] == b'{"n":7,"name":"client type"}'
    assert grown < 200 * len(bodies)


def test_checked_cache_does_not_affect_equality() -> None:
    a, b = rec(req()), rec(req())
    a.checked = ["violation"]
    assert a == b


def test_nearest_ranks_by_fewest_failed_matchers() -> None:
    cassette = Cassette(
        "c",
        interactions=[
            rec(req("POST", "http://h/other", body=b"{}")),
            rec(req("GET", "http://h/items?page=1")),
            rec(req("GET", "http://h/items?page=1")),  # same key: reported once
            rec(req("POST", "http://h/items?page=2", body=b'{"a": 1}')),
        ],
    )
    near = cassette.nearest(req("GET", "http://h/items?page=2"))
    assert [n["uri"] for n in near] == [
        "http://h/items?page=1",
        "http://h/items?page=2",
        "http://h/other",
    ]
    assert near[0] == {
        "method": "GET",
        "uri": "http://h/items?page=1",
        "mismatches": [{"matcher": "query", "recorded": "page=1", "received": "page=2"}],
    }
    assert [m["matcher"] for m in near[1]["mismatches"]] == ["method", "body"]
    assert near[1]["mismatches"][1] == {
        "matcher": "body",
        "recorded": '{"a":1}',
        "received": "(none)",
    }
    assert len(cassette.nearest(req(), limit=1)) == 1


def test_nearest_finds_the_closest_beyond_the_candidate_limit() -> None:
    # 1,000 recordings of one endpoint, more than `nearest` examines: the one sharing the
    # request's (rare) query is still found, by the secondary index on query values.
    cassette = Cassette(
        "c",
        interactions=[rec(req("POST", f"http://h/items?n={i}", body=b"{}")) for i in range(1000)],
    )
    [near] = cassette.nearest(req("POST", "http://h/items?n=999", body=b'{"x": 1}'), limit=1)
    assert near["uri"] == "http://h/items?n=999"
    assert [m["matcher"] for m in near["mismatches"]] == ["body"]


def test_nearest_sees_recordings_added_after_the_first_miss() -> None:
    # More recordings than `nearest` examines: the one added later is found only if the
    # index `nearest` built on the first miss took it in.
    cassette = Cassette(
        "c",
        interactions=[rec(req("POST", f"http://h/items?n={i}", body=b"{}")) for i in range(400)],
    )
    wanted = req("POST", "http://h/items?n=999", body=b'{"x": 1}')
    assert [m["matcher"] for m in cassette.nearest(wanted)[0]["mismatches"]] == ["query", "body"]
    cassette.add(rec(req("POST", "http://h/items?n=999", body=b"{}")))
    [near] = cassette.nearest(wanted, limit=1)
    assert near["uri"] == "http://h/items?n=999"
    assert [m["matcher"] for m in near["mismatches"]] == ["body"]


def test_nearest_when_matching_on_neither_method_nor_path() -> None:
    # The method and path indexes are built from the recordings themselves then.
    cassette = Cassette(
        "c",
        match_on=["uri"],
        interactions=[rec(req("GET", f"http://h/items/{i}?x=1")) for i in range(3)],
    )
    [near] = cassette.nearest(req("GET", "http://h/items/2?x=2"), limit=1)
    assert near["uri"] == "http://h/items/2?x=1"
    assert [m["matcher"] for m in near["mismatches"]] == ["uri"]


def test_nearest_on_empty_cassette() -> None:
    assert Cassette("c").nearest(req()) == []


def test_nearest_headers_show_only_the_difference_and_texts_are_short() -> None:
    long = "x" * 1000
    recorded = req(headers=(("Accept", "a"), ("X-Trace", "1")), body=long.encode())
    cassette = Cassette("c", match_on=["headers", "raw_body"], interactions=[rec(recorded)])
    [near] = cassette.nearest(req(headers=(("accept", "a"), ("X-Trace", "2"))))
    headers, body = near["mismatches"]
    assert headers == {"matcher": "headers", "recorded": "x-trace: 1", "received": "x-trace: 2"}
    assert len(body["recorded"]) == 200
    assert body["recorded"].endswith("…")


@pytest.mark.slow
def test_large_cassette_find_and_nearest_stay_fast() -> None:
    # No timing assertion (flaky on loaded CI machines); a scan of all 100,000 recordings
    # per call would make this test take minutes instead of a second or two.
    interactions = [
        rec(req("GET", f"http://h/products/{i % 1000}/client_types?page={i}"))
        for i in range(100_000)
    ]
    cassette = Cassette("big", interactions=interactions)
    assert (
        cassette.find(req("GET", "http://h/products/7/client_types?page=99007"))
        is interactions[99_007]
    )
    for i in range(200):
        near = cassette.nearest(req("GET", f"http://h/products/{i}/client_types?page=-1"))
        assert near[0]["uri"].startswith(f"http://h/products/{i}/client_types?page=")
        assert [m["matcher"] for m in near[0]["mismatches"]] == ["query"]
