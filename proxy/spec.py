"""Load an OpenAPI 3.1 document once, compile its schemas, and map requests to operations.

Nothing here knows about client types: every route, parameter, security scheme and schema
comes from the document. Local `$ref`s (`#/components/...`) are JSON pointers into the
document, followed here; any other is resolved by `referencing` (the library jsonschema
itself uses), with the whole document registered as one resource. `referencing` and
jsonschema are imported only then, or when a schema needs the full validator: start-up
does not pay for them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import yaml

from proxy import yamlload
from proxy.compile import compile_paths, security_schemes
from proxy.fastcheck import compile_check
from proxy.operations import (
    VERDICTS_MAX,
    CompiledSchema,
    MediaType,
    Operation,
    Parameter,
    RouteMatch,
    SecurityScheme,
)
from proxy.patterns import make_validator
from proxy.pointers import follow
from proxy.routes import Routes

__all__ = [
    "DOCUMENT_URI",
    "VERDICTS_MAX",
    "CompiledSchema",
    "MediaType",
    "Operation",
    "Parameter",
    "RouteMatch",
    "SecurityScheme",
    "Spec",
    "SpecError",
    "shipped_spec_path",
]

if TYPE_CHECKING:
    from referencing import Registry

#: The URI the loaded document is registered under; schema pointers are relative to it.
DOCUMENT_URI = "urn:portal-proxy:openapi"


class _RecursiveError(Exception):
    """A schema refers to itself; it cannot be inlined."""


class SpecError(ValueError):
    """The OpenAPI document cannot be used; the message names the file and the problem."""


def shipped_spec_path() -> Path:
    """The route's spec shipped with the package (found from any working directory)."""
    # The package's folder rather than importlib.resources, whose import alone costs start-up
    # some 15 ms: the spec is opened by its path anyway.
    package = Path(__file__).resolve().parent
    packaged = package / "schemas" / "client_types.yaml"
    if packaged.is_file():
        return packaged
    # An editable install or a source checkout: the repository's own schemas/ folder.
    return package.parent / "schemas" / "client_types.yaml"


class Spec:
    """A loaded, compiled OpenAPI 3.1 document."""

    def __init__(self, document: Mapping[str, Any], source: str = "<memory>") -> None:
        self.document = document
        self.source = source
        if not isinstance(document, Mapping) or not isinstance(document.get("paths"), Mapping):
            raise SpecError(f"{source}: not an OpenAPI document (no `paths` mapping)")
        version = str(document.get("openapi", ""))
        if not version.startswith("3."):
            raise SpecError(f"{source}: expected `openapi: 3.x`, found {version or 'nothing'!r}")
        self.base_path = _base_path(document)
        self._validators: dict[str, CompiledSchema] = {}
        self.schemes = security_schemes(self)
        self.routes = Routes()
        self.operations: list[Operation] = []
        compile_paths(self)

    @classmethod
    def load(cls, path: Path | str) -> Spec:
        """Read and compile a YAML or JSON OpenAPI document; `SpecError` names what is wrong."""
        path = Path(path)
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise SpecError(f"cannot read spec file {str(path)!r}: {exc.strerror}") from exc
        try:
            document = yamlload.load(text)
        except yaml.YAMLError as exc:
            raise SpecError(f"spec file {str(path)!r} is not valid YAML/JSON: {exc}") from exc
        return cls(document, source=str(path))

    @cached_property
    def registry(self) -> Registry[Any]:
        """The document as a `referencing` registry, under `DOCUMENT_URI` (built on first use)."""
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        resource: Resource[Any] = DRAFT202012.create_resource(self.document)
        registry: Registry[Any] = Registry().with_resource(DOCUMENT_URI, resource)
        return registry

    # -- routing -----------------------------------------------------------------------------

    def match(self, method: str, path: str) -> RouteMatch | None:
        """Map a request path (with the base path, still percent-encoded) to an operation.

        Returns None for a path outside the base path or not in the document. A path that
        exists without the method gives a match with no operation and the allowed methods.
        """
        relative = self.relative_path(path)
        return None if relative is None else self.routes.match(method, relative)

    def relative_path(self, path: str) -> str | None:
        """The path below the base path (`/portal-api`), or None when it is outside it."""
        base = self.base_path
        if not base:
            return path
        if path.startswith(base) and (len(path) == len(base) or path[len(base)] == "/"):
            return path[len(base) :] or "/"
        return None

    def under_base(self, path: str) -> bool:
        """True for a path under the spec's server base path."""
        return self.relative_path(path) is not None

    # -- schemas -----------------------------------------------------------------------------

    def resolve(self, node: Any) -> Any:
        """Follow `$ref`s at the top of an OpenAPI object (parameter, body, response...)."""
        seen = 0
        while isinstance(node, Mapping) and "$ref" in node:
            seen += 1
            if seen > 32:
                raise SpecError(f"{self.source}: $ref cycle at {node['$ref']!r}")
            ref = node["$ref"]
            try:
                if isinstance(ref, str) and (ref == "#" or ref.startswith("#/")):
                    node = follow(self.document, ref[1:])
                else:
                    node = self.registry.resolver(DOCUMENT_URI).lookup(ref).contents
            except Exception as exc:  # both ways raise several unrelated types
                raise SpecError(f"{self.source}: cannot resolve $ref {ref!r}") from exc
        return node

    def deref_schema(self, schema: Any, depth: int = 0) -> Any:
        """A copy of a schema with every `$ref` inlined (for synthesis; cycles cut at depth)."""
        if depth > 16:
            return {}
        schema = self.resolve(schema)
        if isinstance(schema, Mapping):
            return {k: self.deref_schema(v, depth + 1) for k, v in schema.items()}
        if isinstance(schema, list):
            return [self.deref_schema(v, depth + 1) for v in schema]
        return schema

    def validator(self, pointer: str) -> CompiledSchema:
        """A compiled Draft 2020-12 validator for the schema at a JSON pointer, cached.

        A schema without recursion is validated in its inlined form: following `$ref`s
        through the registry on every validation costs more than the rest of a request.
        A recursive schema keeps its `$ref`s, resolved against the whole document.
        """
        compiled = self._validators.get(pointer)
        if compiled is None:
            target = self.resolve({"$ref": f"#{pointer}"})
            try:
                inlined = self._inline(target, frozenset({f"#{pointer}"}))
            except _RecursiveError:
                root = {"$ref": f"{DOCUMENT_URI}#{pointer}"}
                compiled = CompiledSchema(lambda: make_validator(root, registry=self.registry))
            else:
                compiled = CompiledSchema(lambda: make_validator(inlined), compile_check(inlined))
            self._validators[pointer] = compiled
        return compiled

    def _inline(self, node: Any, seen: frozenset[str]) -> Any:
        """`node` with local `$ref`s replaced by their targets; `_RecursiveError` on a cycle."""
        if isinstance(node, list):
            return [self._inline(item, seen) for item in node]
        if not isinstance(node, Mapping):
            return node
        ref = node.get("$ref")
        if not isinstance(ref, str):
            return {key: self._inline(value, seen) for key, value in node.items()}
        if not ref.startswith("#") or ref in seen:
            raise _RecursiveError(ref)
        target = self._inline(self.resolve({"$ref": ref}), seen | {ref})
        siblings = {k: self._inline(v, seen) for k, v in node.items() if k != "$ref"}
        if not siblings:
            return target
        # 2020-12 applies `$ref` beside its siblings: the same as an allOf of both.
        return {"allOf": [siblings, target]}

    def __iter__(self) -> Iterator[Operation]:
        return iter(self.operations)


def _base_path(document: Mapping[str, Any]) -> str:
    servers = document.get("servers") or []
    url = str(servers[0].get("url", "")) if servers else ""
    path = urlsplit(url).path if "://" in url else url
    return path.rstrip("/")
