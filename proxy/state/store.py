"""The bounded store behind the stateful mock: items per collection instance.

A collection instance is a collection path with its parent ids filled in (the client types
of product 1 are one instance, those of product 2 another). Each keeps its items in the order
they were created, the ids deleted from it (so that they answer 404 rather than a
synthesized item), and the next id it hands out. At most `limit` items per instance and
`limit` instances: beyond that a create is refused (`Full`) and nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: A collection instance: its path template and the values of its path parameters.
Key = tuple[str, tuple[str, ...]]

Item = dict[str, Any]


class FullError(Exception):
    """The collection instance (or the store) holds as many items as `--state-limit` allows."""


@dataclass(slots=True)
class Collection:
    """The items of one collection instance, by id (the path's text of it)."""

    items: dict[str, Item] = field(default_factory=dict)
    #: Ids deleted and not created again, oldest first (a dict as an ordered set).
    deleted: dict[str, None] = field(default_factory=dict)
    next_id: int = 1
    #: True once anything was created, updated or deleted: from then on the listing shows
    #: what is stored rather than the spec's example.
    touched: bool = False


class Store:
    """Every collection instance, bounded by `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._collections: dict[Key, Collection] = {}
        # The same collections by template: a link is looked up in one resource's instances.
        self._by_template: dict[str, dict[tuple[str, ...], Collection]] = {}

    def get(self, key: Key) -> Collection | None:
        """The collection instance, if anything happened in it."""
        return self._collections.get(key)

    def open(self, key: Key) -> Collection:
        """The collection instance, made on first use (`FullError` past the limit)."""
        found = self._collections.get(key)
        if found is None:
            if len(self._collections) >= self.limit:
                raise FullError(f"the mock already keeps {self.limit} collections")
            found = self._collections[key] = Collection()
            self._by_template.setdefault(key[0], {})[key[1]] = found
        return found

    def put(self, key: Key, item_id: str, item: Item) -> None:
        """Keep `item` under `item_id` (a new one counts against the limit)."""
        collection = self.open(key)
        if item_id not in collection.items and len(collection.items) >= self.limit:
            raise FullError(
                f"{key[0]} already holds {self.limit} items here (--state-limit {self.limit})"
            )
        collection.items[item_id] = item
        collection.deleted.pop(item_id, None)
        collection.touched = True
        if item_id.isdigit():
            collection.next_id = max(collection.next_id, int(item_id) + 1)

    def delete(self, key: Key, item_id: str) -> None:
        """Forget the item and remember that it was deleted (the memory bounded too)."""
        collection = self.open(key)
        collection.items.pop(item_id, None)
        collection.deleted[item_id] = None
        collection.touched = True
        while len(collection.deleted) > self.limit:
            del collection.deleted[next(iter(collection.deleted))]

    def is_deleted(self, key: Key, item_id: str) -> bool:
        """True when the item was deleted and not made again since."""
        collection = self._collections.get(key)
        return collection is not None and item_id in collection.deleted

    def new_id(self, key: Key) -> int:
        """An id no item of this collection instance has had."""
        collection = self.open(key)
        while str(collection.next_id) in collection.items or str(collection.next_id) in (
            collection.deleted
        ):
            collection.next_id += 1
        return collection.next_id

    def find(self, collections: set[str], item_id: str) -> Item | None:
        """The item with this id in any instance of the named collections (for links)."""
        for template in collections:
            for collection in self._by_template.get(template, {}).values():
                if item_id in collection.items:
                    return collection.items[item_id]
        return None

    def reset(self) -> None:
        """Forget everything, deletions too."""
        self._collections.clear()
        self._by_template.clear()

    def snapshot(self) -> dict[str, Any]:
        """The state as JSON: per collection instance, its items and deleted ids."""
        instances = [
            {
                "collection": template,
                "params": list(params),
                "path": fill(template, params),
                "items": list(collection.items.values()),
                "deleted": list(collection.deleted),
            }
            for (template, params), collection in self._collections.items()
        ]
        count = sum(len(c.items) for c in self._collections.values())
        return {"limit": self.limit, "items": count, "collections": instances}


def fill(template: str, params: tuple[str, ...]) -> str:
    """`/products/{product_id}/client_types` with ("1",) -> `/products/1/client_types`."""
    parts = template.split("{")
    out = parts[0]
    for value, rest in zip(params, parts[1:], strict=False):
        out += value + rest.split("}", 1)[1]
    return out
