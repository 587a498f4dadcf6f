"""Where the pytest plugin keeps a test's cassette: one function per layout.

- `flat` (the default): `<test dir>/cassettes/<module>.<Class>.<test>.yaml`, the name made
  a plain file name (`test_x[1-a]` -> `test_x.1-a`).
- `pytest-recording`: pytest-recording's own layout and names,
  `<test dir>/cassettes/<module>/<Class>.<test>.yaml` with the test id kept
  (`test_param[31].yaml`), so a suite migrating from pytest-recording keeps its files.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Literal, get_args

from proxy.storage import NAME_MAX

Layout = Literal["flat", "pytest-recording"]
#: The layouts' names, the default first.
LAYOUTS: tuple[str, ...] = get_args(Layout)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# What pytest-recording replaces by "-" (`get_default_cassette_name`, pytest-recording 0.14).
_RECORDING_UNSAFE = re.compile(r"[<>?%*:|\"'/\\]")
# pytest-recording cuts names past the file name limit (PC_NAME_MAX, 255 on Linux and
# macOS) less the suffix, keeping a prefix, "..." and the name's MD5.
_FILE_NAME_MAX = 255
_SUFFIX = ".yaml"


def cassette_dir(layout: Layout, test_file: Path) -> Path:
    """The folder of a test file's cassettes."""
    folder = test_file.parent / "cassettes"
    return folder / test_file.stem if layout == "pytest-recording" else folder


def cassette_name(layout: Layout, module: str, cls: str | None, test: str) -> str:
    """The cassette name of the test `test` (its pytest name, with any `[id]`)."""
    if layout == "pytest-recording":
        return pytest_recording_name(cls, test)
    return flat_name(module, cls, test)


def flat_name(module: str, cls: str | None, test: str) -> str:
    """`<module>.<Class>.<test>` as a plain cassette name.

    A parametrized test's id follows a dot (`test_x[1-a]` -> `test_x.1-a`); other characters
    become `-`; an overlong name is cut and given a hash.
    """
    test = re.sub(r"\[(.*)\]$", r".\1", test, flags=re.DOTALL)
    name = ".".join(part for part in (module, cls, test) if part)
    name = _UNSAFE.sub("-", name).lstrip(".") or "test"
    if len(name) > NAME_MAX:  # ASCII after the substitution: characters are bytes
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        name = f"{name[: NAME_MAX - 13]}-{digest}"
    return name


def pytest_recording_name(cls: str | None, test: str) -> str:
    """The name pytest-recording gives the test's cassette: `<Class>.<test>` or `<test>`,
    id included, a few characters file systems refuse made `-`, overlong names cut."""
    name = _RECORDING_UNSAFE.sub("-", f"{cls}.{test}" if cls else test)
    if len(name) + len(_SUFFIX) > _FILE_NAME_MAX:
        digest = hashlib.md5(name.encode()).hexdigest()
        name = f"{name[: _FILE_NAME_MAX - len(_SUFFIX) - len(digest) - 3]}...{digest}"
    return name
