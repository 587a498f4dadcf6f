"""Cassette names: which names are files of their own, and where a cassette's file is."""

from __future__ import annotations

from pathlib import Path

#: The longest cassette name, in UTF-8 bytes: a file name's limit (255 on Linux and macOS)
#: less the `.yaml` suffix, so pytest-recording's longest names fit.
NAME_MAX = 250


def validate_cassette_name(name: str) -> str:
    """Return `name` if it names a file of its own, else raise `ValueError` saying why.

    Any file name is accepted (brackets, spaces, dots: pytest-recording writes
    `test_param[31].yaml`); refused are only what would leave the cassette folder or is no
    file name at all: a path separator, `..`, the empty name, NUL, an overlong name.
    """
    problem = None
    if not name:
        problem = "it is empty"
    elif "\0" in name:
        problem = "it contains a NUL character"
    elif "/" in name or "\\" in name:
        problem = "it contains a path separator"
    elif name == "..":
        problem = "it is '..'"
    elif len(name.encode("utf-8", "surrogatepass")) > NAME_MAX:
        problem = f"it is longer than {NAME_MAX} bytes"
    if problem:
        raise ValueError(
            f"invalid cassette name {name!r}: {problem}; use a file name without the "
            "'.yaml' suffix, such as 'client_types' or 'test_create[31]', which becomes "
            "<cassette-dir>/<name>.yaml"
        )
    return name


def cassette_path(directory: Path, name: str) -> Path:
    """The file of the cassette `name` in `directory`, after validating the name."""
    return directory / f"{validate_cassette_name(name)}.yaml"
