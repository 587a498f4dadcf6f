"""Tests for proxy/jsonout.py: JSON the gateway writes, for numbers orjson cannot write too."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson
import pytest

from proxy.jsonout import dumps


@pytest.mark.parametrize(
    "value",
    [
        {"ID": 11, "Name": "foo", "nested": [1, 2.5, None, True]},
        {"ID": 10**400},
        {"big": Decimal("1.5E+400"), "small": Decimal("2.5"), "list": [Decimal("-1E-400")]},
        {"text": "\u0000not a number\u0000", "n": 10**30},
        [Decimal("1E+2"), "é", {"k": 10**20}],
    ],
)
def test_dumps_writes_the_same_value_back(value: Any) -> None:
    out = dumps(value)
    assert json.loads(out, parse_float=Decimal) == value


def test_orjson_output_whenever_orjson_can() -> None:
    value = {"b": 1, "a": [1.5, "x"]}
    assert dumps(value) == orjson.dumps(value)
    assert dumps(value, sort_keys=True) == orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def test_a_client_string_cannot_pass_for_a_number() -> None:
    # The fallback marks Decimals with a random token; a string shaped like one stays a string.
    value = {"a": "\u0000decimal0\u0000", "b": Decimal("1.5E+400")}
    assert json.loads(dumps(value), parse_float=Decimal) == value
