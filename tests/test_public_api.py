"""The gateway uses aiohttp's public API only, so a minor aiohttp release cannot break it.

Checked on the source of `proxy/`: no import of an aiohttp module or name that starts with
`_` (or of `aiohttp.web_protocol`, whose request handler is internal), no use of a private
name aiohttp defines on anything but our own `self`, and no subclass of an aiohttp class that
overrides one of its private methods (as a `_prepare_hook` override once did).
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import aiohttp
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "proxy"
INTERNAL_MODULES = ("aiohttp.web_protocol",)
#: A named tuple's public API starts with `_` so as not to clash with field names.
NAMEDTUPLE_API = frozenset({"_replace", "_asdict", "_make", "_fields", "_field_defaults"})


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@cache
def aiohttp_private_names() -> frozenset[str]:
    """Every private name aiohttp defines: functions, classes, module and instance attributes."""
    names: set[str] = set()
    for path in Path(aiohttp.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
            elif isinstance(node, ast.Name):
                names.add(node.id)
    return frozenset(name for name in names if _private(name)) - NAMEDTUPLE_API


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def private_uses(source: str) -> list[str]:
    """Every use of a private name of aiohttp (or of another object) in `source`."""
    found: list[str] = []
    tree = ast.parse(source)
    aiohttp_names = {"aiohttp", "web"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("aiohttp"):
            module = node.module or ""
            if module in INTERNAL_MODULES or any(_private(p) for p in module.split(".")):
                found.append(f"line {node.lineno}: from {module} import ...")
            for alias in node.names:
                aiohttp_names.add(alias.asname or alias.name)
                if _private(alias.name):
                    found.append(f"line {node.lineno}: from {module} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("aiohttp") and (
                    alias.name in INTERNAL_MODULES
                    or any(_private(p) for p in alias.name.split("."))
                ):
                    found.append(f"line {node.lineno}: import {alias.name}")
        elif isinstance(node, ast.Attribute) and node.attr in aiohttp_private_names():
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                found.append(f"line {node.lineno}: {_dotted(node) or node.attr}")
        elif isinstance(node, ast.ClassDef):
            bases = {_dotted(base).split(".")[0] for base in node.bases}
            if bases & aiohttp_names:
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and _private(
                        item.name
                    ):
                        found.append(f"line {item.lineno}: {node.name}.{item.name} overrides")
    return found


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_no_private_aiohttp_name_in_the_package(path: Path) -> None:
    assert private_uses(path.read_text()) == []


@pytest.mark.parametrize(
    "source",
    [
        "from aiohttp.web_protocol import RequestHandler",
        "from aiohttp.helpers import _SENTINEL",
        "import aiohttp._websocket",
        "request._prepare_hook(response)",
        "response._payload_writer.write(data)",
        "class R(web.BaseRequest):\n    async def _prepare_hook(self, response): pass",
    ],
)
def test_the_check_catches_what_broke_before(source: str) -> None:
    assert private_uses(source) != []


def test_the_check_lets_our_own_private_attributes_be() -> None:
    assert private_uses("class A:\n    def f(self):\n        return self._payload_writer") == []
    assert private_uses("parts._replace(path='/')") == []  # a namedtuple's public API
