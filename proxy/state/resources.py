"""Resources inferred from the spec's paths: collections and their items, nothing hard-coded.

A collection is a path whose last segment is literal (`/X` or `/parent/{id}/X`) with POST
and/or GET; its item is the path one `{param}` below it (`/X/{id}`), with GET, PUT, PATCH or
DELETE. A POST-only path whose answer is no JSON object (`/docs/reorder`) is an action, not
a collection. Each operation of a resource gets a role: list, create, get, update, delete.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from proxy.spec import Operation, Spec
from proxy.validation import is_json_media

Role = Literal["list", "create", "get", "update", "delete"]

_PARAM = re.compile(r"^\{([^}/]+)\}$")
_ITEM_ROLES: dict[str, Role] = {
    "GET": "get",
    "PUT": "update",
    "PATCH": "update",
    "DELETE": "delete",
}


@dataclass(frozen=True, slots=True)
class Resource:
    """A collection path, its item path (if the spec has one) and the item's id parameter."""

    collection: str
    item: str | None
    id_param: str | None
    #: The collection's last segment without punctuation (`client_types` and
    #: `client-types` alike): how a link between two collections is recognised.
    noun: str
    #: The body property that carries an item's id (`ID` in Tyk's spec).
    id_field: str
    #: The item path of the parent resource (`/products/{product_id}`) and its id parameter,
    #: when the collection hangs below one: a deleted parent hides its children.
    parent_item: str | None = None
    parent_param: str | None = None


@dataclass(frozen=True, slots=True)
class Binding:
    """What one operation does to a resource."""

    resource: Resource
    role: Role


class Resources:
    """Every resource of a spec, and the role of each operation that touches one."""

    def __init__(self, spec: Spec) -> None:
        by_template: dict[str, dict[str, Operation]] = {}
        for operation in spec.operations:
            by_template.setdefault(operation.template, {})[operation.method] = operation
        found = [
            resource
            for template, operations in by_template.items()
            if (resource := _collection(template, operations, by_template)) is not None
        ]
        items = {r.item: r for r in found if r.item is not None}
        self.resources: list[Resource] = [_with_parent(r, items) for r in found]
        self._bindings: dict[tuple[str, str], Binding] = {}
        for resource in self.resources:
            collection_roles: dict[str, Role] = {"GET": "list", "POST": "create"}
            for method, role in collection_roles.items():
                if method in by_template[resource.collection]:
                    self._bindings[(method, resource.collection)] = Binding(resource, role)
            for method in by_template.get(resource.item or "", {}):
                if method in _ITEM_ROLES and resource.item is not None:
                    self._bindings[(method, resource.item)] = Binding(resource, _ITEM_ROLES[method])

    def binding(self, operation: Operation) -> Binding | None:
        """The resource and role of an operation, or None when it touches none."""
        return self._bindings.get((operation.method, operation.template))

    def by_noun(self, noun: str) -> Iterable[Resource]:
        """The resources whose collections share a name (for following links)."""
        return (r for r in self.resources if r.noun == noun)


def _collection(
    template: str,
    operations: Mapping[str, Operation],
    by_template: Mapping[str, Mapping[str, Operation]],
) -> Resource | None:
    last = template.rpartition("/")[2]
    if not last or _PARAM.match(last) or not ({"GET", "POST"} & operations.keys()):
        return None
    items = [
        t
        for t in by_template
        if t.startswith(template + "/") and _PARAM.match(t[len(template) + 1 :])
    ]
    create, listing = operations.get("POST"), operations.get("GET")
    if listing is not None and not is_list(success_schema(listing)):
        return None  # a logo, a preview: one thing, not a collection of them
    if not items and not (create is not None and _answers_object(create)):
        return None  # an action such as `/docs/reorder`, or a read-only listing
    item = items[0] if items else None
    id_param = item[len(template) + 2 : -1] if item else None  # `{name}` -> name
    shown = [op for op in (operations.get("POST"),) if op is not None]
    if item is not None:
        shown.extend(by_template[item].values())
    return Resource(
        collection=template,
        item=item,
        id_param=id_param,
        noun=re.sub(r"[^a-z0-9]", "", last.lower()),
        id_field=_id_field(shown),
    )


def _with_parent(resource: Resource, items: Mapping[str, Resource]) -> Resource:
    parent = resource.collection.rpartition("/")[0]
    owner = items.get(parent)
    if owner is None:
        return resource
    return Resource(
        resource.collection,
        resource.item,
        resource.id_param,
        resource.noun,
        resource.id_field,
        parent,
        owner.id_param,
    )


def success_schema(operation: Operation) -> Mapping[str, Any] | None:
    """The JSON schema of the operation's default (2xx) answer, if it has one."""
    documented = operation.response_for(operation.default_status)
    if documented is None:
        return None
    for media in documented[1]:
        if is_json_media(media.media_type):
            return media.schema
    return None


def properties(schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """An object schema's properties, `allOf` parts merged."""
    if not isinstance(schema, Mapping):
        return {}
    merged: dict[str, Any] = dict(schema.get("properties") or {})
    for part in schema.get("allOf") or []:
        merged.update(properties(part))
    return merged


def list_shape(schema: Mapping[str, Any] | None) -> tuple[str | None, Mapping[str, Any]] | None:
    """How a listing carries its items: a bare array (None, item schema), or an object
    with one array property (`{"data": [...]}`: ("data", item schema)); None otherwise."""
    if not isinstance(schema, Mapping):
        return None
    if schema.get("type") == "array":
        return None, schema.get("items") or {}
    arrays = [
        (name, sub)
        for name, sub in properties(schema).items()
        if isinstance(sub, Mapping) and sub.get("type") == "array"
    ]
    if len(arrays) == 1:
        return arrays[0][0], arrays[0][1].get("items") or {}
    return None


def is_list(schema: Mapping[str, Any] | None) -> bool:
    """True for a collection's listing schema (see `list_shape`)."""
    return list_shape(schema) is not None


def _answers_object(operation: Operation) -> bool:
    schema = success_schema(operation)
    return bool(properties(schema))


def _id_field(operations: Iterable[Operation]) -> str:
    for operation in operations:
        names = properties(success_schema(operation))
        for candidate in ("ID", "id", "Id"):
            if candidate in names:
                return candidate
    return "ID"
