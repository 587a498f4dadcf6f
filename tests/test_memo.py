"""The bounded memo every cache of the gateway is built on."""

from __future__ import annotations

import pytest

from proxy.memo import Memo


def test_a_memo_holds_up_to_its_limit_then_starts_afresh() -> None:
    memo: Memo[int, str] = Memo(3)
    for key in range(3):
        assert memo.keep(key, str(key)) == str(key)
    assert dict(memo) == {0: "0", 1: "1", 2: "2"}
    memo.keep(3, "3")  # full: emptied, then the new entry stored
    assert dict(memo) == {3: "3"}
    assert memo.get(0) is None


def test_a_memo_never_grows_past_its_limit() -> None:
    memo: Memo[int, int] = Memo(100)
    for key in range(10_000):
        memo.keep(key, key)
        assert len(memo) <= 100


def test_a_memo_must_hold_something() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Memo(0)
