"""Shared fixtures: real servers on 127.0.0.1 port 0, a client session, the full portal spec."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from proxy.app import build_app
from proxy.server import Runner, start
from proxy.settings import Settings
from proxy.standin import Standin
from tests.servers import served

#: Tyk's whole portal spec, kept in ../shared (reference data, never copied into the repo).
FULL_SPEC = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "spec"
    / ("enterprise-developer-portal-swagger.yaml")
)
ROUTE = "/portal-api/products/{}/client_types"
TOKEN_HEADERS = {"Authorization": "test-token", "Content-Type": "application/json"}


@dataclass
class Running:
    """A server started by a fixture: its base URL and app."""

    url: str
    app: web.Application
    runner: Runner

    def route(self, product: object = 1) -> str:
        return self.url + ROUTE.format(product)

    def address(self) -> tuple[str, int]:
        """The (host, port) it listens on, for tests that talk raw sockets."""
        host, port = self.url.rsplit("//", 1)[1].split(":")
        return host, int(port)


@dataclass
class StandinServer:
    """The stand-in portal and where it listens."""

    standin: Standin
    url: str


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as client:
        yield client


@pytest.fixture
async def standin() -> AsyncIterator[StandinServer]:
    fake = Standin()
    async with served(fake.app()) as url:
        yield StandinServer(fake, url)


GatewayFactory = Callable[..., Awaitable[Running]]


def parametrize_table(
    argnames: tuple[str, ...], table: Sequence[tuple[Any, ...]]
) -> pytest.MarkDecorator:
    """`pytest.mark.parametrize` over a table whose first column is each case's id."""
    return pytest.mark.parametrize(
        argnames, [row[1:] for row in table], ids=[row[0] for row in table]
    )


@pytest.fixture
async def gateway_factory(tmp_path: Path) -> AsyncIterator[GatewayFactory]:
    """Start gateways in-process on port 0; `await factory("mock", cassette=...)`."""
    started: list[Running] = []

    async def factory(mode: str, **changes: Any) -> Running:
        changes.setdefault("cassette_dir", tmp_path / "cassettes")
        settings = Settings(mode=mode, port=0, **changes)
        app = build_app(settings)
        runner, url = await start(app, "127.0.0.1", 0)
        running = Running(url, app, runner)
        started.append(running)
        return running

    yield factory
    for running in reversed(started):
        await running.runner.cleanup()


@pytest.fixture
async def mock_gateway(gateway_factory: GatewayFactory) -> Running:
    return await gateway_factory("mock")


def every_file_text(*folders: Path) -> str:
    """The text of every file below the folders (what the process wrote)."""
    return "\n".join(
        path.read_bytes().decode("utf-8", "replace")
        for folder in folders
        for path in folder.rglob("*")
        if path.is_file()
    )
