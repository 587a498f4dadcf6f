"""Load an OpenAPI 3.1 document once, compile its schemas, and map requests to operations.

Nothing here knows about client types: every route, parameter, security scheme and schema
comes from the document. Local `$ref`s (`#/components/...`) are JSON pointers into the
document, followed here; any other is resolved by `referencing` (the library jsonschema
itself uses), with the whole document registered as one resource. `referencing` and
jsonschema are imported only then, or when a schema needs the full validator: start-up
does not pay for them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import yaml

from proxy import yamlload
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


HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


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
        self.schemes = self._security_schemes()
        self.routes = Routes()
        self.operations: list[Operation] = []
        self._compile_paths()

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
                    node = _pointer(self.document, ref[1:])
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

    # -- compilation -------------------------------------------------------------------------

    def _security_schemes(self) -> dict[str, SecurityScheme]:
        raw = (self.document.get("components") or {}).get("securitySchemes") or {}
        schemes: dict[str, SecurityScheme] = {}
        for name, node in raw.items():
            node = self.resolve(node)
            kind = str(node.get("type", ""))
            if kind == "apiKey":
                schemes[name] = SecurityScheme(name, kind, str(node["in"]), str(node["name"]))
            else:
                # http (basic/bearer), oauth2 and openIdConnect all travel in Authorization.
                schemes[name] = SecurityScheme(name, kind, "header", "Authorization")
        return schemes

    def _compile_paths(self) -> None:
        global_security = self.document.get("security")
        for template, item in self.document["paths"].items():
            item = self.resolve(item)
            shared = list(item.get("parameters") or [])
            base = f"/paths/{_escape(template)}"
            operations: dict[str, Operation] = {}
            for method in HTTP_METHODS:
                if method in item:
                    operations[method] = self._compile_operation(
                        method, template, item[method], shared, f"{base}/{method}", global_security
                    )
            self.routes.add(template, operations)
            self.operations.extend(operations.values())

    def _compile_operation(
        self,
        method: str,
        template: str,
        node: Mapping[str, Any],
        shared: list[Any],
        pointer: str,
        global_security: Any,
    ) -> Operation:
        params: dict[tuple[str, str], Parameter] = {}
        sources = [(p, "/paths") for p in shared] + [
            (p, pointer) for p in node.get("parameters") or []
        ]
        for index, (raw, _) in enumerate(sources):
            param_pointer = self._pointer_of(raw, pointer, index, len(shared))
            param = self.resolve(raw)
            schema_pointer = f"{param_pointer}/schema"
            schema = param.get("schema") or {}
            params[(param["name"], param["in"])] = Parameter(
                name=str(param["name"]),
                location=str(param["in"]),
                required=bool(param.get("required", param["in"] == "path")),
                schema=self.deref_schema(schema),
                validator=self.validator(schema_pointer),
            )
        body_node = node.get("requestBody")
        request_body: tuple[MediaType, ...] = ()
        body_required = False
        if body_node is not None:
            body_pointer = self._ref_pointer(body_node, f"{pointer}/requestBody")
            body = self.resolve(body_node)
            body_required = bool(body.get("required", False))
            request_body = self._media_types(body.get("content") or {}, f"{body_pointer}/content")
        responses: dict[str, tuple[MediaType, ...]] = {}
        for status, raw_response in (node.get("responses") or {}).items():
            response_pointer = self._ref_pointer(raw_response, f"{pointer}/responses/{status}")
            response = self.resolve(raw_response)
            responses[str(status)] = self._media_types(
                response.get("content") or {}, f"{response_pointer}/content"
            )
        security_node = node.get("security", global_security) or []
        security = tuple(
            tuple(self.schemes[name] for name in requirement if name in self.schemes)
            for requirement in security_node
        )
        return Operation(
            method=method.upper(),
            template=template,
            operation_id=str(node.get("operationId") or f"{method.upper()} {template}"),
            parameters=tuple(params.values()),
            request_body=request_body,
            request_body_required=body_required,
            responses=responses,
            security=security,
        )

    def _media_types(self, content: Mapping[str, Any], pointer: str) -> tuple[MediaType, ...]:
        media: list[MediaType] = []
        for media_type, node in content.items():
            node = node or {}
            schema = node.get("schema")
            media_pointer = f"{pointer}/{_escape(media_type)}/schema"
            examples = {
                name: self.resolve(example).get("value")
                for name, example in (node.get("examples") or {}).items()
            }
            if "example" in node:
                examples.setdefault("default", node["example"])
            media.append(
                MediaType(
                    media_type=media_type.lower(),
                    schema=self.deref_schema(schema) if schema is not None else None,
                    validator=self.validator(media_pointer) if schema is not None else None,
                    examples=examples,
                )
            )
        return tuple(media)

    def _ref_pointer(self, node: Any, default: str) -> str:
        """The JSON pointer of what `node` really is: its `$ref` chain's target, or `default`."""
        pointer = default
        for _ in range(32):
            if not (isinstance(node, Mapping) and isinstance(node.get("$ref"), str)):
                return pointer
            ref = node["$ref"]
            if not ref.startswith("#"):
                raise SpecError(f"{self.source}: only local $refs are supported here, not {ref!r}")
            pointer = ref[1:]
            node = self.resolve({"$ref": ref})
        raise SpecError(f"{self.source}: $ref cycle at {default!r}")

    def _pointer_of(self, raw: Any, pointer: str, index: int, shared_count: int) -> str:
        # A parameter defined inline: its pointer inside the path item or the operation.
        if index < shared_count:
            inline = f"{pointer.rsplit('/', 1)[0]}/parameters/{index}"
        else:
            inline = f"{pointer}/parameters/{index - shared_count}"
        return self._ref_pointer(raw, inline)

    def __iter__(self) -> Iterator[Operation]:
        return iter(self.operations)


def _pointer(document: Any, pointer: str) -> Any:
    """What a JSON pointer (RFC 6901, percent-encoded as a URI fragment) points to.

    Follows it as `referencing` does; a pointer to nowhere raises `LookupError`, or a
    `ValueError`/`TypeError` when it walks into an array with a name or into a scalar.
    """
    node = document
    if not pointer:
        return node
    for token in unquote(pointer[1:]).split("/"):
        if isinstance(node, Sequence):  # strings too, as `referencing` has it
            node = node[int(token)]
        else:
            node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def _escape(token: str) -> str:
    """Escape a JSON pointer token (RFC 6901) for use inside a URI fragment."""
    escaped = token.replace("~", "~0").replace("/", "~1")
    # Characters that are not allowed raw in a URI fragment are percent-encoded;
    # `referencing` unquotes the fragment before following the pointer.
    return re.sub(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@]", lambda m: f"%{ord(m.group()):02X}", escaped)


def _base_path(document: Mapping[str, Any]) -> str:
    servers = document.get("servers") or []
    url = str(servers[0].get("url", "")) if servers else ""
    path = urlsplit(url).path if "://" in url else url
    return path.rstrip("/")
