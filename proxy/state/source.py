"""The state source: a mock that remembers what was created, updated and deleted.

`answer(ex)` handles a request to a collection or item the spec's paths describe
(`proxy.state.resources`) and returns None for anything else, or for what it leaves to the
stateless mock (an invalid request, a `Prefer` header, an id never seen). Every body is
shaped by the schema the operation documents for the status it answers (`BodyPlan.render`
echoes stored fields only where they fit the schema at every depth).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from proxy import documented
from proxy.exchange import Exchange
from proxy.problems import problem
from proxy.responses import empty_response
from proxy.spec import Operation, Spec
from proxy.state.resources import (
    Resource,
    Resources,
    list_shape,
    properties,
    success_schema,
)
from proxy.state.store import FullError, Item, Key, Store
from proxy.violations import has_errors

_SOURCE = "mock"


def _names(template: str) -> tuple[str, ...]:
    return tuple(re.findall(r"\{([^}/]+)\}", template))


class StateSource:
    """Answers the collections and items of a spec from a bounded in-memory store."""

    def __init__(self, spec: Spec, limit: int) -> None:
        self.resources = Resources(spec)
        self.store = Store(limit)

    async def answer(self, ex: Exchange) -> web.StreamResponse | None:
        """The stateful answer to this exchange, or None when it is not a state operation."""
        operation, route = ex.operation, ex.route
        if operation is None or route is None:
            return None
        binding = self.resources.binding(operation)
        if binding is None or has_errors(ex.violations) or "Prefer" in ex.request.headers:
            return None
        resource, params = binding.resource, route.path_params
        key: Key = (
            resource.collection,
            tuple(params.get(n, "") for n in _names(resource.collection)),
        )
        path = ex.request.rel_url.raw_path
        if self._parent_deleted(resource, params):
            return self._missing(operation, f"{path}: its parent was deleted;")
        sent = ex.parsed.value if isinstance(ex.parsed.value, dict) else {}
        try:
            if binding.role == "list":
                return self._list(ex, operation, key)
            if binding.role == "create":
                return self._create(operation, resource, key, sent)
            item_id = params.get(resource.id_param or "", "")
            if self.store.is_deleted(key, item_id):
                return self._missing(
                    operation, f"{path}: {resource.id_param} {item_id} was deleted;"
                )
            if binding.role == "get":
                return self._get(operation, resource, key, item_id)
            if binding.role == "update":
                return self._update(operation, resource, key, item_id, sent)
            self.store.delete(key, item_id)
            return self._success(operation, {})
        except FullError as exc:
            return problem("state-full", str(exc), limit=self.store.limit)

    # -- roles -------------------------------------------------------------------------------

    def _list(self, ex: Exchange, operation: Operation, key: Key) -> web.StreamResponse | None:
        schema = success_schema(operation)
        collection = self.store.get(key)
        shape = list_shape(schema)
        if collection is None or not collection.touched or shape is None:
            return None  # untouched: the spec's example listing, so a first screen has rows
        wrapper, item_schema = shape
        items = _page(list(collection.items.values()), operation, ex.request.query)
        plan = documented.plan_for(item_schema)
        listed: Any = [plan.render(item) for item in items]
        if wrapper is not None:  # `{"data": [...]}`: the rest of the wrapper synthesized
            listed = {**documented.plan_for(schema).render(), wrapper: listed}
        return documented.body_response(
            operation.default_status, _json_media(operation), listed, _SOURCE
        )

    def _create(
        self, operation: Operation, resource: Resource, key: Key, sent: Mapping[str, Any]
    ) -> web.StreamResponse | None:
        schema = success_schema(operation)
        base: Item = {}
        # An id the client gives is used only where the request documents one (attaching
        # an existing client type by `ID`); elsewhere the server sets it, as the portal does.
        takes_id = any(
            resource.id_field in properties(media.schema) for media in operation.request_body
        )
        requested = sent.get(resource.id_field) if takes_id else None
        if requested is not None:
            # Attaching by id: what another collection of that name holds shows through.
            others = {
                r.collection
                for r in self.resources.by_noun(resource.noun)
                if r.collection != resource.collection
            }
            base.update(self.store.find(others, str(requested)) or {})
        base.update(_client_fields(sent, schema))
        if requested is None:
            new_id = self.store.new_id(key)
            id_schema = properties(schema).get(resource.id_field) or {}
            base[resource.id_field] = str(new_id) if id_schema.get("type") == "string" else new_id
        rendered = documented.plan_for(schema).render(base) if schema is not None else base
        stored = {**base, **rendered} if isinstance(rendered, dict) else base
        item_id = str(stored.get(resource.id_field))
        self.store.put(key, item_id, stored)
        if schema is None:
            return None  # no JSON body documented: the stateless mock answers as documented
        # `rendered` is already the documented body: shaped by the schema, stamped now.
        return documented.body_response(
            operation.default_status, _json_media(operation), rendered, _SOURCE
        )

    def _get(
        self, operation: Operation, resource: Resource, key: Key, item_id: str
    ) -> web.StreamResponse | None:
        collection = self.store.get(key)
        stored = collection.items.get(item_id) if collection is not None else None
        if stored is None:
            # Neither created nor deleted: synthesized, with the id the path asked for.
            stored = {resource.id_field: _path_value(item_id)}
        return self._success(operation, stored)

    def _update(
        self,
        operation: Operation,
        resource: Resource,
        key: Key,
        item_id: str,
        sent: Mapping[str, Any],
    ) -> web.StreamResponse | None:
        collection = self.store.get(key)
        current = collection.items.get(item_id) if collection is not None else None
        schema = success_schema(operation)
        merged: Item = dict(current or {})
        merged.update(_client_fields(sent, schema))
        merged[resource.id_field] = (current or {}).get(resource.id_field, _path_value(item_id))
        for name in [n for n in merged if n.lower().startswith("updated")]:
            del merged[name]  # the server sets it: now, by the schema's own format
        if schema is not None:
            rendered = documented.plan_for(schema).render(merged)
            if isinstance(rendered, dict):
                merged = {**merged, **rendered}
        self.store.put(key, item_id, merged)
        return self._success(operation, merged)

    # -- answers -----------------------------------------------------------------------------

    def _parent_deleted(self, resource: Resource, params: Mapping[str, str]) -> bool:
        if resource.parent_item is None or resource.parent_param is None:
            return False
        parent_collection = resource.parent_item.rpartition("/")[0]
        parent_key: Key = (
            parent_collection,
            tuple(params.get(n, "") for n in _names(parent_collection)),
        )
        return self.store.is_deleted(parent_key, params.get(resource.parent_param, ""))

    def _success(self, operation: Operation, item: Item) -> web.StreamResponse:
        """The operation's documented success answer, shaped from `item`."""
        status = operation.default_status
        found = operation.response_for(status)
        media_types = found[1] if found is not None else ()
        if not media_types:
            return empty_response(status, _SOURCE)
        media = documented.pick_media(media_types)
        value = documented.plan_for(media.schema).render(item)
        return documented.body_response(status, media, value, _SOURCE)

    def _missing(self, operation: Operation, what: str) -> web.StreamResponse:
        status = documented.missing_status(operation)
        return documented.error_response(operation, status, [f"{what} not found"], _SOURCE)


def _json_media(operation: Operation) -> Any:
    found = operation.response_for(operation.default_status)
    assert found is not None
    return documented.pick_media(found[1])


def _client_fields(sent: Mapping[str, Any], schema: Mapping[str, Any] | None) -> Item:
    """What the client sent, less the timestamps the server sets itself."""
    stamped = documented.plan_for(schema).stamped_keys() if schema is not None else frozenset()
    return {k: v for k, v in sent.items() if k not in stamped}


def _path_value(text: str) -> Any:
    """An id as the path gave it: a number when it is one (the spec's ids are integers)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else text


def _page(items: list[Item], operation: Operation, query: Mapping[str, str]) -> list[Item]:
    """The page the query asks for, where the operation documents `page`/`per_page`."""
    names = {p.name: p for p in operation.parameters if p.location == "query"}
    if "per_page" not in names and "page" not in names:
        return items
    per_page = _number(query.get("per_page"), names.get("per_page"), 20)
    page = _number(query.get("page"), names.get("page"), 1)
    start = (page - 1) * per_page
    chosen = items[start : start + per_page]
    if "limit" in names and query.get("limit"):
        chosen = chosen[: _number(query.get("limit"), names["limit"], per_page)]
    return chosen


def _number(raw: str | None, param: Any, fallback: int) -> int:
    default = param.schema.get("default", fallback) if param is not None else fallback
    try:
        value = int(raw) if raw is not None else int(default)
    except ValueError:
        value = fallback
    return max(1, value)
