"""Replicas behind one Alertmanager, end to end, with the shipped rules and route.

Two `portal-proxy proxy` processes in front of one stand-in portal, a real Prometheus
scraping both every second with deploy/prometheus/rules.yml, a real Alertmanager with the
route of deploy/alertmanager/alertmanager.yml, and its webhook receiver on loopback here.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from proxy.standin import Scripted
from tests.cli_process import command, running
from tests.conftest import ROUTE, StandinServer
from tests.servers import served

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
OPERATION = "create-product-client-type"
AUTH = {"Authorization": "e2e-token", "Content-Type": "application/json"}
#: A 201 whose only violation is one enum (GrantType): one alert per replica, one code.
VIOLATING = Scripted(
    201,
    json.dumps(
        {
            "Name": "foo",
            "ID": 1,
            "Description": "Web application",
            "GrantType": "bogus",
            "OktaAppType": "web",
            "CreatedAt": "2023-06-23 21:02",
            "UpdatedAt": "2023-06-23 21:02",
        }
    ).encode(),
    [("Content-Type", "application/json")],
)

pytestmark = pytest.mark.slow


def binary(path: str) -> str:
    found = shutil.which(path)
    if found is None:
        pytest.skip(
            f"{path} not found: install Debian's prometheus and prometheus-alertmanager "
            "packages (.ci/run does)"
        )
    return found


def free_port() -> int:
    # Prometheus and Alertmanager cannot listen on port 0 and say where: pick one for them.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def daemon(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run a Prometheus tool with its output in `log`; always stop it."""
    with log.open("wb") as out:
        popen = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield popen
        finally:
            popen.terminate()
            try:
                popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()


class Receiver:
    """Alertmanager's webhook receiver: every notification body it got."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.notifications.append(await request.json())
        self.arrived.set()
        return web.Response()


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    sink = Receiver()
    app = web.Application()
    app.router.add_post("/alerts", sink.handle)
    async with served(app) as url:
        yield sink, f"{url}/alerts"


def alertmanager_config(webhook: str) -> dict[str, Any]:
    """The shipped route and receiver, pointed at `webhook`, with test-sized timings."""
    config: dict[str, Any] = yaml.safe_load(
        (DEPLOY / "alertmanager" / "alertmanager.yml").read_text()
    )
    route = config["route"]
    # group_wait short for the test; group_interval long, so a second notification for the
    # same group could only come from a second group.
    route.update(group_wait="1s", group_interval="5m", repeat_interval="1h")
    for receiver in config["receivers"]:
        for hook in receiver["webhook_configs"]:
            hook["url"] = webhook
    return config


def prometheus_config(replicas: list[str], alertmanager: str) -> dict[str, Any]:
    """The shipped scrape job and rules, on the test's targets, every second."""
    shipped: dict[str, Any] = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (job,) = [job for job in shipped["scrape_configs"] if job["job_name"] == "portal-proxy"]
    job["static_configs"] = [{"targets": replicas}]
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(DEPLOY / "prometheus" / "rules.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [job],
    }


async def wait_ready(session: aiohttp.ClientSession, url: str, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            async with session.get(url) as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    output = await asyncio.to_thread(log.read_text)
    raise AssertionError(f"{url} not ready in 20 s:\n{output[-2000:]}")


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_a_violation_through_either_replica_is_one_notification(
    standin: StandinServer,
    receiver: tuple[Receiver, str],
    session: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    prometheus, alertmanager = binary(PROMETHEUS), binary(ALERTMANAGER)
    sink, webhook = receiver
    am_port, prom_port = free_port(), free_port()
    am_config, prom_config = tmp_path / "alertmanager.yml", tmp_path / "prometheus.yml"
    am_config.write_text(yaml.safe_dump(alertmanager_config(webhook)))
    started = time.monotonic()
    with ExitStack() as stack:
        replicas = [
            stack.enter_context(running(command("proxy", "--port", "0", "--upstream", standin.url)))
            for _ in range(2)
        ]
        targets = [replica.url.removeprefix("http://") for replica in replicas]
        prom_config.write_text(yaml.safe_dump(prometheus_config(targets, f"127.0.0.1:{am_port}")))
        am_log, prom_log = tmp_path / "alertmanager.log", tmp_path / "prometheus.log"
        stack.enter_context(
            daemon(
                [
                    alertmanager,
                    f"--config.file={am_config}",
                    f"--storage.path={tmp_path / 'am-data'}",
                    f"--web.listen-address=127.0.0.1:{am_port}",
                    "--cluster.listen-address=",  # one Alertmanager: no gossip
                ],
                am_log,
            )
        )
        stack.enter_context(
            daemon(
                [
                    prometheus,
                    f"--config.file={prom_config}",
                    f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                prom_log,
            )
        )
        am_url, prom_url = f"http://127.0.0.1:{am_port}", f"http://127.0.0.1:{prom_port}"
        await wait_ready(session, am_url + "/-/ready", am_log)
        await wait_ready(session, prom_url + "/-/ready", prom_log)

        # One schema-violating upstream response through each replica.
        for replica in replicas:
            standin.standin.script.append(VIOLATING)
            async with session.post(
                replica.url + ROUTE.format(1), data=b'{"ID": 1}', headers=AUTH
            ) as response:
                assert response.status == 201
                assert "enum" in response.headers["sl-violations"]

        await asyncio.wait_for(sink.arrived.wait(), timeout=45)
        arrived = time.monotonic() - started

        # Both replicas' alerts reach Alertmanager, in ONE group: one notification per
        # group_interval, however many replicas saw the violation.
        deadline = time.monotonic() + 15
        while True:
            groups = await get_json(session, am_url + "/api/v2/alerts/groups")
            instances = {a["labels"]["instance"] for g in groups for a in g["alerts"]}
            if instances == set(targets) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert instances == set(targets), f"alerts at Alertmanager: {groups}"
        assert len(groups) == 1, f"more than one group: {groups}"
        await asyncio.sleep(2)  # a second group would have been notified by now (group_wait 1s)

    assert len(sink.notifications) == 1, sink.notifications
    (notification,) = sink.notifications
    print(f"notification after {arrived:.1f} s:\n{json.dumps(notification, indent=2)}")
    assert notification["status"] == "firing"
    assert notification["groupLabels"] == {
        "alertname": "PortalProxyErrorViolation",
        "operation": OPERATION,
        "code": "enum",
    }
    assert notification["commonLabels"]["operation"] == OPERATION
    assert notification["commonLabels"]["code"] == "enum"
    assert OPERATION in notification["commonAnnotations"]["summary"]
    assert "enum" in notification["commonAnnotations"]["summary"]
    assert {a["labels"]["instance"] for a in notification["alerts"]} <= set(targets)
    assert time.monotonic() - started < 90
