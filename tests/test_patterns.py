"""ECMA-262 `pattern` semantics, where python's `re.search` gets them wrong."""

from __future__ import annotations

import pytest

from proxy.patterns import ecma_search, make_validator

STAMP = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$"


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("2023-06-23 21:02", True),
        ("2023-06-23 21:02\n", False),  # `$` must not match before a trailing newline
        ("\u0662\u0660\u0662\u0663-06-23 21:02", False),  # Arabic-Indic digits are not \d
        ("\uff12\uff10\uff12\uff13-06-23 21:02", False),  # fullwidth digits neither
        ("2023-06-23T21:02:00Z", False),
        ("2023-06-23 21:02:00", False),
        ("2023-06-23", False),
        ("", False),
    ],
)
def test_timestamp_pattern(text: str, matches: bool) -> None:
    assert ecma_search(STAMP, text) is matches


def test_validator_uses_ecma_pattern_and_pattern_properties() -> None:
    validator = make_validator(
        {
            "type": "object",
            "properties": {"at": {"type": "string", "pattern": STAMP}},
            "patternProperties": {r"^\d+$": {"type": "integer"}},
        }
    )
    assert validator.is_valid({"at": "2023-06-23 21:02", "1": 2})
    assert not validator.is_valid({"at": "2023-06-23 21:02\n"})
    assert not validator.is_valid({"1": "x"})
    # A non-ASCII digit key is not matched by \d, so it is not constrained.
    assert validator.is_valid({"\u0661": "x"})


def test_invalid_pattern_is_a_violation_not_a_crash() -> None:
    validator = make_validator({"type": "string", "pattern": "("})
    errors = list(validator.iter_errors("x"))
    assert len(errors) == 1
    assert "invalid pattern" in errors[0].message
