"""Loading cassette files: ours fast, any other VCR.py cassette through YAML.

Files in our appendable layout (`proxy.storage.format`) parse with orjson, a chunk of lines
per call, skipping unfinished appends and a cut last line; anything else VCR.py can write
goes through `proxy.yamlload` (imported only then).
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from proxy import yamlload
from proxy.cassette import Interaction
from proxy.storage.format import HEADER, CassetteError
from proxy.storage.items import Shared, interaction, serve_decoded

log = logging.getLogger("proxy.storage")

# Bytes of a file in our layout parsed per orjson call (the chunk ends at the next newline).
# A chunk's parsed dicts are freed before the next chunk is parsed, which reuses their
# memory; parsed all at once, a 100,000-item file's dicts (several times the file's size)
# would stay resident, pinned by the few strings the interactions keep from them.
_CHUNK = 256 * 1024


def load_cassette(path: Path) -> list[Interaction]:
    """Load every interaction of a VCR.py cassette file.

    Files in our appendable layout take a fast path (one orjson call per chunk of items) and
    skip unfinished appends and a cut last line; any other VCR.py cassette is parsed as YAML.
    An empty file has no interactions. Problems raise `CassetteError` naming the file.
    """
    data = path.read_bytes()
    if not data.strip():  # VCR.py too treats an empty file as no cassette yet
        return []
    shared = Shared()
    interactions: list[Interaction] = []
    if data.startswith(HEADER):
        chunks = _item_chunks(path, data)
    else:
        chunks = iter([(_parse_yaml(path, data), False)])
    for items, json in chunks:
        try:
            for item in items:
                interactions.append(interaction(item, shared, json=json))
        except CassetteError as exc:
            raise CassetteError(f"{path}: interaction {len(interactions)} {exc}") from exc
    serve_decoded(path, interactions)
    return interactions


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (loading and indexing cassettes).

    Parsing makes millions of small containers, none of them in a cycle; each batch of
    them would set off a garbage collection, which roughly doubles the load time. It is
    process-wide, so only the `portal-proxy` process uses it (`proxy.library.Library.load`
    with `pause_gc`), never a gateway running inside another program.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _parse_yaml(path: Path, data: bytes) -> list[Any]:
    import yaml

    try:
        document = yamlload.load_cassette(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CassetteError(f"{path}: not a cassette: the file is not UTF-8 text") from exc
    except yaml.YAMLError as exc:
        raise CassetteError(f"{path}: not a cassette: invalid YAML: {exc}") from exc
    items = document.get("interactions") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise CassetteError(
            f"{path}: not a VCR.py cassette: expected a mapping with an 'interactions' list"
        )
    return items


def _item_chunks(path: Path, data: bytes) -> Iterator[tuple[list[Any], bool]]:
    """The committed items of a file in our layout, a chunk of lines at a time, each chunk
    with whether orjson parsed all of its items (YAML parses what orjson cannot read)."""
    start, size = len(HEADER), len(data)
    while start < size:
        end = data.find(b"\n", start + _CHUNK) + 1 or size  # after a newline, or the end
        yield _parse_chunk(path, data, start, end)
        start = end


def _parse_chunk(path: Path, data: bytes, start: int, end: int) -> tuple[list[Any], bool]:
    """The committed items of the whole lines `data[start:end]` (skipping comments, and a cut
    last line of the file)."""
    whole = data.startswith(b"- ", start) and data[end - 1] == ord("\n")
    if whole and data.find(b"\n#", start, end) < 0:
        # Only whole, committed items: parse them as one JSON array, "\n- " becoming
        # "\n,", then the first "-" "[" and the last newline "]". One orjson call per chunk
        # is several times faster than one per line.
        joined = bytearray(memoryview(data)[start:end]).replace(b"\n- ", b"\n,")
        joined[0], joined[-1] = ord("["), ord("]")
        with contextlib.suppress(orjson.JSONDecodeError):  # !!binary or \U: line by line
            items: list[Any] = orjson.loads(joined)
            return items, True
    lines = data[start:end].split(b"\n")
    last = len(lines) - 1  # after the chunk's final newline: empty, or the file's cut end
    items = []
    for i, line in enumerate(lines):
        if line.startswith(b"- "):
            item = _parse_item(line[2:])
            if item is not None:
                items.append(item)
                continue
        elif not line or line.startswith(b"#") or i == last:
            continue  # blank, a comment (an unfinished append), or the cut start of one
        if i == last:
            log.warning("%s: skipping a cut last interaction (interrupted write)", path)
            continue
        number = data.count(b"\n", 0, start) + 1 + i
        raise CassetteError(
            f"{path}: line {number} is not an interaction ('- ' and a JSON or YAML "
            "flow mapping) nor a comment"
        )
    return items, False


def _parse_item(text: bytes) -> dict[str, Any] | None:
    try:
        item = orjson.loads(text)
    except orjson.JSONDecodeError:
        import yaml

        try:  # what only YAML reads: !!binary, \U escapes
            item = yamlload.load_cassette(text.decode("utf-8"))
        except (UnicodeDecodeError, yaml.YAMLError):
            return None
    return item if isinstance(item, dict) else None
