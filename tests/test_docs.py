"""Tests for proxy/docs.py: the README's options table is the one the code prints."""

from __future__ import annotations

from pathlib import Path

from proxy.docs import option_row, options_table
from proxy.settings import BY_ATTR, OPTIONS

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_shows_the_options_table_the_code_prints() -> None:
    # If this fails, run `python -m proxy.docs` and paste its output into README.md.
    assert options_table() in README.read_text(encoding="utf-8")


def test_every_option_has_a_row_with_its_default() -> None:
    table = options_table()
    for option in OPTIONS:
        assert option_row(option) in table
    assert "| `--port` | all | `3001` |" in table
    assert "| `--max-body` | all | `1m` |" in table
    assert "| `--record-mode` | record | `once` |" in table


def test_help_shows_the_default_and_the_variable() -> None:
    assert BY_ATTR["upstream_timeout"].full_help.endswith(
        "(default 30) [env PORTAL_PROXY_UPSTREAM_TIMEOUT]"
    )
