"""Compile an OpenAPI document's paths into operations (`proxy.operations`).

Each parameter, request body and response schema gets its compiled validator from the spec
(`Spec.validator`, by JSON pointer, so that equal schemas are compiled once); security
requirements are resolved to the schemes that carry a credential.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from proxy.operations import MediaType, Operation, Parameter, SecurityScheme
from proxy.pointers import escape

if TYPE_CHECKING:
    from proxy.spec import Spec


def _refused(message: str) -> Exception:
    # proxy.spec imports this module; its error type is looked up when one is raised.
    from proxy.spec import SpecError

    return SpecError(message)


HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def security_schemes(spec: Spec) -> dict[str, SecurityScheme]:
    raw = (spec.document.get("components") or {}).get("securitySchemes") or {}
    schemes: dict[str, SecurityScheme] = {}
    for name, node in raw.items():
        node = spec.resolve(node)
        kind = str(node.get("type", ""))
        if kind == "apiKey":
            schemes[name] = SecurityScheme(name, kind, str(node["in"]), str(node["name"]))
        else:
            # http (basic/bearer), oauth2 and openIdConnect all travel in Authorization.
            schemes[name] = SecurityScheme(name, kind, "header", "Authorization")
    return schemes


def compile_paths(spec: Spec) -> None:
    global_security = spec.document.get("security")
    for template, item in spec.document["paths"].items():
        item = spec.resolve(item)
        shared = list(item.get("parameters") or [])
        base = f"/paths/{escape(template)}"
        operations: dict[str, Operation] = {}
        for method in HTTP_METHODS:
            if method in item:
                operations[method] = compile_operation(
                    spec,
                    method,
                    template,
                    item[method],
                    shared,
                    f"{base}/{method}",
                    global_security,
                )
        spec.routes.add(template, operations)
        spec.operations.extend(operations.values())


def compile_operation(
    spec: Spec,
    method: str,
    template: str,
    node: Mapping[str, Any],
    shared: list[Any],
    pointer: str,
    global_security: Any,
) -> Operation:
    params: dict[tuple[str, str], Parameter] = {}
    sources = [(p, "/paths") for p in shared] + [(p, pointer) for p in node.get("parameters") or []]
    for index, (raw, _) in enumerate(sources):
        param_pointer = pointer_of(spec, raw, pointer, index, len(shared))
        param = spec.resolve(raw)
        schema_pointer = f"{param_pointer}/schema"
        schema = param.get("schema") or {}
        params[(param["name"], param["in"])] = Parameter(
            name=str(param["name"]),
            location=str(param["in"]),
            required=bool(param.get("required", param["in"] == "path")),
            schema=spec.deref_schema(schema),
            validator=spec.validator(schema_pointer),
        )
    body_node = node.get("requestBody")
    request_body: tuple[MediaType, ...] = ()
    body_required = False
    if body_node is not None:
        body_pointer = ref_pointer(spec, body_node, f"{pointer}/requestBody")
        body = spec.resolve(body_node)
        body_required = bool(body.get("required", False))
        request_body = media_types(spec, body.get("content") or {}, f"{body_pointer}/content")
    responses: dict[str, tuple[MediaType, ...]] = {}
    for status, raw_response in (node.get("responses") or {}).items():
        response_pointer = ref_pointer(spec, raw_response, f"{pointer}/responses/{status}")
        response = spec.resolve(raw_response)
        responses[str(status)] = media_types(
            spec, response.get("content") or {}, f"{response_pointer}/content"
        )
    security_node = node.get("security", global_security) or []
    security = tuple(
        tuple(spec.schemes[name] for name in requirement if name in spec.schemes)
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


def media_types(spec: Spec, content: Mapping[str, Any], pointer: str) -> tuple[MediaType, ...]:
    media: list[MediaType] = []
    for media_type, node in content.items():
        node = node or {}
        schema = node.get("schema")
        media_pointer = f"{pointer}/{escape(media_type)}/schema"
        examples = {
            name: spec.resolve(example).get("value")
            for name, example in (node.get("examples") or {}).items()
        }
        if "example" in node:
            examples.setdefault("default", node["example"])
        media.append(
            MediaType(
                media_type=media_type.lower(),
                schema=spec.deref_schema(schema) if schema is not None else None,
                validator=spec.validator(media_pointer) if schema is not None else None,
                examples=examples,
            )
        )
    return tuple(media)


def ref_pointer(spec: Spec, node: Any, default: str) -> str:
    """The JSON pointer of what `node` really is: its `$ref` chain's target, or `default`."""
    pointer = default
    for _ in range(32):
        if not (isinstance(node, Mapping) and isinstance(node.get("$ref"), str)):
            return pointer
        ref = node["$ref"]
        if not ref.startswith("#"):
            raise _refused(f"{spec.source}: only local $refs are supported here, not {ref!r}")
        pointer = ref[1:]
        node = spec.resolve({"$ref": ref})
    raise _refused(f"{spec.source}: $ref cycle at {default!r}")


def pointer_of(spec: Spec, raw: Any, pointer: str, index: int, shared_count: int) -> str:
    # A parameter defined inline: its pointer inside the path item or the operation.
    if index < shared_count:
        inline = f"{pointer.rsplit('/', 1)[0]}/parameters/{index}"
    else:
        inline = f"{pointer}/parameters/{index - shared_count}"
    return ref_pointer(spec, raw, inline)
