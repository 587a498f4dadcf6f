"""Record through an in-process gateway, stop it to flush, replay what it wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml

from proxy.standin import Scripted
from tests.conftest import GatewayFactory, Running, StandinServer

AUTH = {"Authorization": "record-token", "Content-Type": "application/json"}


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, bytes]:
    data = raw if raw is not None else orjson.dumps(body if body is not None else {"ID": 11})
    async with session.post(url, data=data, headers=headers or AUTH) as response:
        return response.status, response.headers.copy(), await response.read()


async def record(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    tmp_path: Path,
    name: str = "rec",
    **settings: Any,
) -> Running:
    settings.setdefault("record_mode", "all")
    return await gateway_factory(
        "record",
        upstream=standin.url,
        cassette=name,
        cassette_dir=tmp_path / "cassettes",
        **settings,
    )


async def replay_of(gateway_factory: GatewayFactory, tmp_path: Path, **settings: Any) -> Running:
    """A replay gateway over what `record` wrote."""
    return await gateway_factory(
        "replay", cassette="rec", cassette_dir=tmp_path / "cassettes", **settings
    )


def script_json(standin: StandinServer, body: bytes) -> None:
    """Queue one scripted `201 application/json` answer on the stand-in, ahead of its default."""
    standin.standin.script.append(Scripted(201, body, [("Content-Type", "application/json")]))


async def record_and_stop(
    gateway_factory: GatewayFactory,
    standin: StandinServer,
    session: aiohttp.ClientSession,
    tmp_path: Path,
    body: Any = None,
    *,
    raw: bytes | None = None,
    times: int = 1,
) -> tuple[int, Any, bytes]:
    """Record `times` identical POSTs to product 1 into the "rec" cassette, then stop the
    recording gateway so everything is flushed to disk; return the last live answer."""
    gw = await record(gateway_factory, standin, tmp_path)
    for _ in range(times):
        answer = await post(session, gw.route(1), body, raw=raw)
    await gw.runner.cleanup()
    return answer


def load_yaml(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data
