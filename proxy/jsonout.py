"""JSON out: orjson, with the standard library for the numbers orjson cannot write.

Request bodies are parsed exactly (`proxy.validation.parse_json`): `1E400` is an integer of
401 digits, `1.5E400` a `Decimal`. orjson refuses both (64-bit integers, floats only); the
mock echoes request fields and the state keeps them, so every JSON the gateway writes goes
through `dumps`, which falls back to `json` only when orjson refuses.
"""

from __future__ import annotations

import json
import secrets
from decimal import Decimal
from typing import Any

import orjson


def dumps(value: Any, *, sort_keys: bool = False, non_str_keys: bool = False) -> bytes:
    """`value` as compact JSON bytes (orjson's output whenever orjson can write it)."""
    option = (orjson.OPT_SORT_KEYS if sort_keys else 0) | (
        orjson.OPT_NON_STR_KEYS if non_str_keys else 0
    )
    try:
        return orjson.dumps(value, option=option)
    except TypeError:
        pass
    # json writes integers of any size; a Decimal goes in as a marked string and comes out
    # as the number it is (no float could hold 1.5E400).
    # (The mark has a random part, so no string a client sent can pass for one.)
    decimals: list[str] = []
    mark = f"\0{secrets.token_hex(8)}:"
    marked = _mark(value, decimals, mark)
    text = json.dumps(marked, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False)
    for index, number in enumerate(decimals):
        text = text.replace(json.dumps(f"{mark}{index}"), number, 1)
    return text.encode()


def _mark(value: Any, decimals: list[str], mark: str) -> Any:
    if isinstance(value, Decimal):
        decimals.append(str(value))
        return f"{mark}{len(decimals) - 1}"
    if isinstance(value, dict):
        return {str(key): _mark(item, decimals, mark) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_mark(item, decimals, mark) for item in value]
    return value
