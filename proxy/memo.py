"""A bounded memo: a dict that empties itself when full.

The gateway remembers work that repeats (route matches, match keys, canonical bodies,
verdicts, mock bodies, values shared while loading). Each memo must stay bounded whatever
a client sends, and emptying a full one is cheaper on the hot path than keeping an LRU
order on every hit; a memo that is emptied simply fills again with what is in use.
"""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(dict[K, V]):
    """A dict of at most `limit` entries: `keep` empties it when full, then stores.

    Lookups are the dict's own (`memo.get(key)`), so a hit costs what a dict lookup costs.
    """

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        super().__init__()
        if limit < 1:
            raise ValueError(f"a memo holds at least one entry, got limit={limit}")
        self.limit = limit

    def keep(self, key: K, value: V) -> V:
        """Store `value` under `key` (emptying the memo first if it is full); returns it."""
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value
