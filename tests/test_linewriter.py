"""Tests for proxy/linewriter.py: the access log's batched lines look like logging's."""

from __future__ import annotations

import asyncio
import json
import logging
import re

import pytest

from proxy.linewriter import LineWriter
from proxy.report import TEXT_FORMAT, JsonFormatter  # as configure_logging writes lines


def logging_line(fmt: logging.Formatter, message: str, **fields: object) -> str:
    record = logging.LogRecord("portal_proxy.access", logging.INFO, "", 0, message, (), None)
    record.__dict__.update(fields)
    return fmt.format(record)


def test_text_lines_have_the_shape_of_logging_lines(capsys: pytest.CaptureFixture[str]) -> None:
    writer = LineWriter("portal_proxy.access", "text")
    writer.info("POST /portal-api/products/1/client_types 201 mock 0.4ms violations=0", {})
    ours = capsys.readouterr().err.splitlines()  # no loop running: written at once
    theirs = logging_line(logging.Formatter(TEXT_FORMAT), "POST ... 201")
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert re.fullmatch(
        rf"{stamp} INFO portal_proxy\.access: POST /portal-api/.* violations=0", ours[0]
    )
    assert re.fullmatch(rf"{stamp} INFO portal_proxy\.access: POST \.\.\. 201", theirs)


def test_json_lines_carry_the_fields_as_logging_writes_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fields = {"method": "POST", "path": "/p", "status": 201, "duration_ms": 0.4}
    LineWriter("portal_proxy.access", "json").info("POST /p 201", fields)
    ours = json.loads(capsys.readouterr().err)
    theirs = json.loads(logging_line(JsonFormatter(), "POST /p 201", **fields))
    assert list(ours) == list(theirs)  # same keys, same order
    assert {k: v for k, v in ours.items() if k != "time"} == {
        k: v for k, v in theirs.items() if k != "time"
    }
    assert ours["time"].endswith("Z")


async def test_lines_are_batched_then_written_within_the_interval(
    capsys: pytest.CaptureFixture[str],
) -> None:
    writer = LineWriter("portal_proxy.access", "text", interval=0.05)
    for n in range(3):
        writer.info(f"line {n}", {})
    assert capsys.readouterr().err == ""  # queued, not yet written
    await asyncio.sleep(0.2)
    assert [line.rsplit(": ", 1)[1] for line in capsys.readouterr().err.splitlines()] == [
        "line 0",
        "line 1",
        "line 2",
    ]
    writer.info("last", {})
    writer.flush()  # as at shutdown: nothing is left behind
    assert capsys.readouterr().err.endswith(": last\n")
