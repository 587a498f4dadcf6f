"""The YAML loader of the package: libyaml's safe loader (PyYAML's own without libyaml).

`load` is for documents (the OpenAPI spec); `load_cassette` also reads the few Python tags
VCR.py writes into cassettes, each with a constructor of our own that builds plain data
(`bytes`, `str`, a tuple): a request body VCR.py saw as a file (`!!python/object/new:
_io.BytesIO`) or a generator (`!!python/object/apply:builtins.iter`), and `!!python/unicode`
from Python 2 days. Any other Python tag is refused with an error naming it; nothing a
cassette says is ever imported or called.

PyYAML is imported on first use, not at start-up: cassettes we wrote rarely need it.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import yaml

_PYTHON = "tag:yaml.org,2002:python/"


def load(text: str | bytes) -> Any:
    """`text` parsed by the safe loader; raises `yaml.YAMLError`."""
    import yaml

    return yaml.load(text, Loader=_safe_loader())


def load_cassette(text: str | bytes) -> Any:
    """`text` parsed by the safe loader plus VCR.py's body tags; raises `yaml.YAMLError`
    (a `yaml.constructor.ConstructorError` naming any other Python tag)."""
    import yaml

    return yaml.load(text, Loader=_cassette_loader())


@functools.cache
def _safe_loader() -> type[yaml.SafeLoader]:
    import yaml

    loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return loader


@functools.cache
def _cassette_loader() -> type[yaml.SafeLoader]:
    import yaml

    # A subclass, so the constructors added here do not leak into the safe loader itself.
    loader: type[yaml.SafeLoader] = type("CassetteLoader", (_safe_loader(),), {})
    constructors: dict[str, Any] = {
        "unicode": yaml.SafeLoader.construct_yaml_str,
        "str": yaml.SafeLoader.construct_yaml_str,
        "bytes": yaml.SafeLoader.construct_yaml_binary,
        "tuple": _tuple,
        "object/new:_io.BytesIO": _bytes_io,
        "object/apply:builtins.iter": _iterator,
    }
    for suffix, construct in constructors.items():
        loader.add_constructor(_PYTHON + suffix, construct)
    loader.add_multi_constructor(_PYTHON, _refuse)
    return loader


def _tuple(loader: yaml.SafeLoader, node: yaml.Node) -> tuple[Any, ...]:
    import yaml

    if not isinstance(node, yaml.SequenceNode):
        raise _error(node, "!!python/tuple is not a sequence")
    return tuple(loader.construct_sequence(node, deep=True))


def _bytes_io(loader: yaml.SafeLoader, node: yaml.Node) -> bytes:
    """A file-like body: VCR.py pickles `BytesIO` as `state: [content, position, dict]`."""
    fields = _fields(loader, node)
    content = fields.get("state") or fields.get("args")
    if isinstance(content, list | tuple) and content:
        content = content[0]
    if isinstance(content, str):
        content = content.encode("utf-8")
    if not isinstance(content, bytes):
        raise _error(node, "!!python/object/new:_io.BytesIO holds no bytes")
    return content


def _iterator(loader: yaml.SafeLoader, node: yaml.Node) -> bytes:
    """A generator body: VCR.py stores its chunks as `args: [[chunk, ...]]`; joined."""
    args = _fields(loader, node).get("args")
    chunks = args[0] if isinstance(args, list | tuple) and args else None
    if not isinstance(chunks, list | tuple):
        raise _error(node, "!!python/object/apply:builtins.iter has no list of chunks")
    parts: list[bytes] = []
    for chunk in chunks:
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8")
        if not isinstance(chunk, bytes):
            raise _error(node, f"a chunk of builtins.iter is {type(chunk).__name__}, not bytes")
        parts.append(chunk)
    return b"".join(parts)


def _fields(loader: yaml.SafeLoader, node: yaml.Node) -> dict[Any, Any]:
    import yaml

    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):  # the short form: the arguments only
        return {"args": loader.construct_sequence(node, deep=True)}
    raise _error(node, f"{node.tag} is not a mapping")


def _refuse(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    raise _error(
        node,
        f"refusing the Python object tag !!python/{suffix}: a cassette may hold only data "
        "(of Python tags, only those VCR.py writes for request bodies are read)",
    )


def _error(node: yaml.Node, problem: str) -> yaml.constructor.ConstructorError:
    import yaml

    return yaml.constructor.ConstructorError(None, None, problem, node.start_mark)
