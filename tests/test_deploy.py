"""deploy/: the alert rules, scrape config, Alertmanager route, dashboard and compose file,
checked by promtool and amtool themselves and against what `/__proxy/metrics` really exposes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import GatewayFactory, StandinServer

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
RULES = DEPLOY / "prometheus" / "rules.yml"
RULES_TESTS = DEPLOY / "prometheus" / "rules.test.yml"
SCRAPE_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
ALERTMANAGER = DEPLOY / "alertmanager" / "alertmanager.yml"
DASHBOARD = DEPLOY / "grafana" / "portal-proxy.json"
COMPOSE = DEPLOY / "docker-compose.yml"

AUTH = {"Authorization": "deploy-token", "Content-Type": "application/json"}
ROUTE = "/portal-api/products/1/client_types"

#: Added by Prometheus, not by the gateway: `up` and the target labels.
SCRAPER_METRICS = frozenset({"up"})
SCRAPER_LABELS = frozenset({"job", "instance"})
#: Labels whose values the rules select on (or that name a fixed set): values must exist too.
VALUE_LABELS = frozenset({"severity", "source", "location", "operation", "outcome"})

SERIES = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\}$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Scrape = dict[str, dict[str, set[str]]]  # metric name -> label name -> values seen


def tool(name: str) -> str:
    """The path of a Prometheus tool; skip when the Debian package is not installed."""
    found = shutil.which(name)
    if found is None:
        pytest.skip(
            f"{name} not found: install Debian's prometheus and prometheus-alertmanager "
            "packages (.ci/run does)"
        )
    return found


def run(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def alert_names() -> list[str]:
    return [rule["alert"] for group in load(RULES)["groups"] for rule in group["rules"]]


def parse_series(text: str) -> tuple[str, dict[str, str]]:
    found = SERIES.match(text.strip())
    assert found, f"input series not in name{{labels}} form: {text}"
    return found.group(1), dict(LABEL.findall(found.group(2)))


def test_rules_pass_promtool_check() -> None:
    output = run(tool("promtool"), "check", "rules", str(RULES))
    assert f"SUCCESS: {len(alert_names())} rules found" in output


def test_scrape_config_passes_promtool_check() -> None:
    # Run from elsewhere: the rule file is found relative to the config file.
    output = run(tool("promtool"), "check", "config", str(SCRAPE_CONFIG), cwd=Path("/"))
    assert "SUCCESS: 1 rule files found" in output


def test_alertmanager_config_passes_amtool_check() -> None:
    run(tool("amtool"), "check-config", str(ALERTMANAGER))


def test_alertmanager_groups_across_replicas() -> None:
    # One notification per violation, however many replicas saw it: never group by instance.
    route = load(ALERTMANAGER)["route"]
    assert route["group_by"] == ["alertname", "operation", "code"]


def test_rules_unit_tests_pass_promtool() -> None:
    output = run(tool("promtool"), "test", "rules", str(RULES_TESTS))
    assert "SUCCESS" in output


def test_every_rule_has_a_firing_and_a_silent_unit_test() -> None:
    cases = [case for test in load(RULES_TESTS)["tests"] for case in test["alert_rule_test"]]
    for name in alert_names():
        mine = [case for case in cases if case["alertname"] == name]
        assert any(case["exp_alerts"] for case in mine), f"{name}: no test where it fires"
        assert any(not case["exp_alerts"] for case in mine), f"{name}: no test where it is silent"


async def live_scrape(
    gateway_factory: GatewayFactory, standin: StandinServer, session: aiohttp.ClientSession
) -> Scrape:
    """Metrics and labels of real scrapes after exchanges that produce every kind of series."""
    standin.standin.invalid = True  # 201s with an Error violation of the response body
    proxy = await gateway_factory("proxy", upstream=standin.url)
    unreachable = await gateway_factory("proxy", upstream="http://127.0.0.1:1")
    exchanges = [
        (proxy, ROUTE, AUTH),  # Error violations of the response
        (proxy, ROUTE, {"Content-Type": "application/json"}),  # no token: a Warning, a 401
        (proxy, "/portal-api/not-in-spec", AUTH),  # a Warning of operation `unknown`
        (unreachable, ROUTE, AUTH),  # a 502 answered by the gateway
    ]
    for gateway, path, headers in exchanges:
        async with session.post(gateway.url + path, data=b'{"ID": 1}', headers=headers):
            pass
    seen: Scrape = {}
    for gateway in (proxy, unreachable):
        async with session.get(gateway.url + "/__proxy/metrics") as response:
            assert response.status == 200
            text = await response.text()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = seen.setdefault(sample.name, {})
                for label, value in sample.labels.items():
                    labels.setdefault(label, set()).add(value)
    return seen


async def test_rules_tests_use_the_series_a_live_scrape_shows(
    gateway_factory: GatewayFactory, standin: StandinServer, session: aiohttp.ClientSession
) -> None:
    # A renamed metric or label breaks this test, not just production alerting.
    seen = await live_scrape(gateway_factory, standin, session)
    assert seen["portal_proxy_violations_total"]["severity"] == {"Error", "Warning"}
    inputs = [
        parse_series(series["series"])
        for test in load(RULES_TESTS)["tests"]
        for series in test["input_series"]
    ]
    assert {name for name, _ in inputs} >= {"portal_proxy_violations_total", "up"}
    for name, labels in inputs:
        if name in SCRAPER_METRICS:
            continue
        assert name in seen, f"{name} is in the rules' tests but not in /__proxy/metrics"
        for label, value in labels.items():
            if label in SCRAPER_LABELS:
                continue
            assert label in seen[name], f"{name} has no label {label} in /__proxy/metrics"
            if label in VALUE_LABELS:
                assert value in seen[name][label], f"{name}{{{label}={value!r}}} never exposed"


def dashboard_queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


async def test_dashboard_queries_use_exposed_metrics(
    gateway_factory: GatewayFactory, standin: StandinServer, session: aiohttp.ClientSession
) -> None:
    seen = await live_scrape(gateway_factory, standin, session)
    used = {name for expr in dashboard_queries() for name in re.findall(r"portal_proxy_\w+", expr)}
    assert used, "the dashboard queries no portal-proxy metric"
    missing = {name for name in used if name not in seen}
    assert not missing, f"dashboard queries metrics /__proxy/metrics does not expose: {missing}"


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    # promtool parses each query as a recording rule (Grafana's variables filled in).
    fill = {"$__rate_interval": "5m", "$__range": "1h", "$instance": ".*"}
    rules = []
    for index, expr in enumerate(dashboard_queries()):
        for variable, value in fill.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"unknown Grafana variable in {expr}"
        rules.append({"record": f"dashboard:query_{index}", "expr": expr})
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    output = run(tool("promtool"), "check", "rules", str(path))
    assert f"SUCCESS: {len(rules)} rules found" in output


def test_compose_wires_replicas_prometheus_and_alertmanager() -> None:
    # No Docker Compose on the test machine: the wiring is checked against the files it mounts.
    services = load(COMPOSE)["services"]
    replicas = {name: spec for name, spec in services.items() if "build" in spec}
    assert len(replicas) >= 2
    for spec in replicas.values():
        assert (COMPOSE.parent / spec["build"]["context"] / spec["build"]["dockerfile"]).is_file()
        assert spec["command"][0] == "proxy"
        assert spec["environment"]["PORTAL_PROXY_UPSTREAM"].startswith("${PORTAL_PROXY_UPSTREAM")
    scrape = load(SCRAPE_CONFIG)
    targets = {
        target
        for job in scrape["scrape_configs"]
        if job["job_name"] == "portal-proxy"
        for static in job["static_configs"]
        for target in static["targets"]
    }
    ports = {
        name: spec["command"][spec["command"].index("--port") + 1]
        for name, spec in replicas.items()
    }
    assert targets == {f"{name}:{port}" for name, port in ports.items()}
    (manager,) = scrape["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert manager.split(":")[0] in services
    mounts = {
        volume.split(":")[1]: COMPOSE.parent / volume.split(":")[0]
        for name in ("prometheus", "alertmanager")
        for volume in services[name]["volumes"]
    }
    assert (mounts["/etc/prometheus"] / "prometheus.yml").read_text() == SCRAPE_CONFIG.read_text()
    assert (mounts["/etc/prometheus"] / "rules.yml").is_file()
    assert (mounts["/etc/alertmanager"] / "alertmanager.yml").is_file()
