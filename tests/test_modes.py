"""Tests for proxy/modes.py: the one table of modes, and what each mode opens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from proxy.modes import open_mode
from proxy.settings import Mode, Settings
from proxy.sources.cassette import CassetteSource, MissSource
from proxy.sources.latency import Delayed
from proxy.sources.mock import MockSource
from proxy.sources.refuse import RefuseInvalid
from proxy.sources.upstream import UpstreamSource
from proxy.spec import Spec, shipped_spec_path
from proxy.state import StateSource

SPEC = Spec.load(shipped_spec_path())
UPSTREAM = "http://127.0.0.1:9"  # never contacted: no request is sent in these tests
CASSETTE = b"""interactions:
- request: {body: '{"ID": 1}', headers: {}, method: POST,
    uri: 'http://portal:3001/portal-api/products/1/client_types'}
  response:
    body: {string: '{"ID": 1}'}
    headers: {Content-Type: [application/json]}
    status: {code: 201, message: Created}
version: 1
"""


@pytest.mark.parametrize(
    ("mode", "changes", "existing", "expected", "record_mode"),
    [
        ("mock", {}, False, [CassetteSource, StateSource, RefuseInvalid, MockSource], None),
        ("mock", {"state": "off"}, False, [CassetteSource, RefuseInvalid, MockSource], None),
        ("replay", {}, True, [CassetteSource, MissSource], None),
        (
            "replay",
            {"on_miss": "mock"},
            True,
            [CassetteSource, RefuseInvalid, MockSource, MissSource],
            None,
        ),
        ("proxy", {}, False, [UpstreamSource], None),
        ("proxy", {"strict": True}, False, [RefuseInvalid, UpstreamSource], None),
        ("record", {"record_mode": "once"}, False, [UpstreamSource], "all"),
        ("record", {"record_mode": "once"}, True, [CassetteSource, MissSource], "none"),
        ("record", {"record_mode": "all"}, True, [UpstreamSource], "all"),
        (
            "record",
            {"record_mode": "new_episodes", "strict": True},
            True,
            [CassetteSource, RefuseInvalid, UpstreamSource],
            "new_episodes",
        ),
    ],
)
async def test_each_mode_is_its_list_of_sources(
    tmp_path: Path,
    mode: Mode,
    changes: dict[str, Any],
    existing: bool,
    expected: list[type],
    record_mode: str | None,
) -> None:
    if existing:
        (tmp_path / "fixtures.yaml").write_bytes(CASSETTE)
    if mode in ("record", "proxy"):
        changes["upstream"] = UPSTREAM
    settings = Settings(mode=mode, cassette_dir=tmp_path, cassette="fixtures", **changes)
    opened = await open_mode(settings, SPEC)
    try:
        # Delayed (--latency, Prefer: delay=) wraps the sources that stand in for the portal.
        unwrapped = [
            inner
            for source in opened.sources
            for inner in (source.wrapped if isinstance(source, Delayed) else (source,))
        ]
        assert [type(source) for source in unwrapped] == expected
        assert opened.record_mode == record_mode
        assert opened.forwards == (UpstreamSource in expected)
        # `once` on an existing cassette replays it: the file is loaded, nothing recorded.
        assert (opened.recorder is not None) == (record_mode in ("all", "new_episodes"))
        if existing and mode != "proxy":
            assert [len(c) for c in opened.library.cassettes] == [1]
    finally:
        await opened.close()
    # Nothing was sent, so nothing is written: no empty cassette appears (as with VCR.py).
    assert (tmp_path / "fixtures.yaml").exists() == existing


async def test_a_gateway_inside_another_program_leaves_the_collector_alone(
    gateway_factory: Any, tmp_path: Path
) -> None:
    # The pytest plugin runs the gateway inside the user's test process: loading cassettes
    # must neither disable nor freeze that process's garbage collector.
    import gc

    (tmp_path / "cassettes").mkdir()
    (tmp_path / "cassettes" / "fixtures.yaml").write_bytes(CASSETTE)
    frozen = gc.get_freeze_count()
    await gateway_factory("replay", cassette="fixtures")
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
