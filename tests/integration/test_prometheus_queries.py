"""Skiff's metrics on a real Prometheus (Debian's `prometheus`, installed by
scripts/ensure-docker.sh; the test fails without it, it does not skip).

One daemon runs a service behind a load balancer (a few requests go through its listener),
an Auto Scaling group of busybox instances with its target tracking policy and an alarm, and a
job queue with a job submitted. Prometheus scrapes it every second and evaluates
deploy/prometheus/rules every second. Then:
- `promtool check metrics` finds nothing to say about /metrics (units, _total, HELP);
- every PromQL expression of the rules and of the dashboards (deploy/grafana/dashboards/*.json,
  each panel target's `expr`, Grafana's variables replaced) parses, and every recording rule
  and dashboard query returns at least one series. Alerts need only parse: nothing is wrong.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.daemon import Skiff, free_port, wait_for
from tests.support.documents import (
    IMAGE,
    alarm_doc,
    compute_environment_doc,
    container,
    dump,
    health_check,
    job_definition_doc,
    job_queue_doc,
    load_balancer_doc,
    service_doc,
    target_group_doc,
    td_doc,
)
from tests.support.scaling import cpu_tracked_group

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules"
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
FAST = ("--metrics-period", "1", "--status-check-interval", "1")
HTTPD = "mkdir -p /www && echo ok > /www/health && echo hi > /www/index.html && " + (
    "httpd -f -p 8080 -h /www & trap 'exit 0' TERM; wait"
)


# --- the expressions --------------------------------------------------------------------------


def rule_expressions() -> list[tuple[str, str, bool]]:
    """(where, expr, must return a series) of every rule: recording rules must, alerts not."""
    found = []
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                name = rule.get("record") or rule.get("alert")
                found.append((f"{path.name}: {name}", rule["expr"], "record" in rule))
    return found


def panel_targets(node: Any, where: str) -> Iterator[tuple[str, str]]:
    """Each panel target's `expr`, at any depth (rows hold panels; panels hold targets)."""
    if isinstance(node, dict):
        title = node.get("title", where) if "targets" in node else where
        for target in node.get("targets", []) if isinstance(node.get("targets"), list) else []:
            if isinstance(target, dict) and str(target.get("expr") or "").strip():
                yield f"{title} ({target.get('refId', '?')})", target["expr"]
        for key, value in node.items():
            if key != "targets":
                yield from panel_targets(value, title if key == "panels" else where)
    elif isinstance(node, list):
        for item in node:
            yield from panel_targets(item, where)


def dashboard_expressions() -> list[tuple[str, str, bool]]:
    found = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for where, expr in panel_targets(json.loads(path.read_text()), path.name):
            found.append((f"{path.name}: {where}", grafana_to_promql(expr), True))
    return found


_INTERVALS = re.compile(
    r"\$(?:__rate_interval|__interval|__range)\b|\$\{(?:__rate_interval|__interval|__range)\}"
)
_VARIABLE = r"(?:\$\{[A-Za-z0-9_]+(?::[A-Za-z]+)?\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[A-Za-z0-9_]+\]\])"
_MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(!?=)\s*"([^"]*' + _VARIABLE + r'[^"]*)"')


def grafana_to_promql(expr: str) -> str:
    """Grafana's variables as any value: intervals become 1m, `label="$var"` becomes
    `label=~".*"` (and `!=` becomes `!~`), any other variable `.*`."""
    expr = _INTERVALS.sub("1m", expr)

    def matcher(m: re.Match[str]) -> str:
        op = "=~" if m.group(2) == "=" else "!~"
        return f'{m.group(1)}{op}"{re.sub(_VARIABLE, ".*", m.group(3))}"'

    expr = _MATCHER.sub(matcher, expr)
    return re.sub(_VARIABLE, ".*", expr)


def test_grafana_variables_become_any_value() -> None:
    panel = 'sum by (le) (rate(x{service="$service", g!="${group}"}[$__rate_interval]))'
    assert grafana_to_promql(panel) == 'sum by (le) (rate(x{service=~".*", g!~".*"}[1m]))'
    assert grafana_to_promql('rate(y{q="[[queue]]-x"}[$__interval])') == 'rate(y{q=~".*-x"}[1m])'


# --- the scenario ------------------------------------------------------------------------------


def scenario(skiff: Skiff, port: int) -> str:
    web, grp = skiff.name("web"), skiff.name("grp")
    app = container("web", image=IMAGE, command=["sh", "-c", HTTPD], memoryReservation=16)
    app["portMappings"] = [{"containerPort": 8080}]
    target = {"targetGroup": web, "containerName": "web", "containerPort": 8080}
    return dump(
        td_doc(web, containerDefinitions=[app]),
        service_doc(web, taskDefinition=web, desiredCount=1, loadBalancers=[target]),
        target_group_doc(web, healthCheck=health_check("/health"), deregistrationDelay=1),
        load_balancer_doc(skiff.name("front"), port, target_group=web),
        *cpu_tracked_group(grp, 2),
        alarm_doc(
            skiff.name("grp-cpu-high"),
            {"metricName": "CPUUtilization", "autoScalingGroup": grp},
            threshold=95,
            period=1,
        ),
        compute_environment_doc(skiff.name("ce"), maxvCpus=1),
        job_queue_doc(skiff.name("q"), skiff.name("ce")),
        job_definition_doc(
            skiff.name("work"),
            containerProperties={
                "image": IMAGE,
                "command": ["sh", "-c", "exit 0"],
                "vcpus": 0.25,
                "memory": 16,
            },
        ),
    )


def post(skiff: Skiff, path: str, body: dict[str, Any]) -> dict[str, Any]:
    with urllib.request.urlopen(skiff.request(path, body), timeout=10) as r:
        return dict(json.loads(r.read()))


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Prometheus:
    """Debian's prometheus on a free loopback port, scraping one daemon every second."""

    def __init__(self, root: Path, daemon_port: int) -> None:
        binary = shutil.which("prometheus")
        assert binary, "prometheus is missing: run scripts/ensure-docker.sh (Debian's package)"
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in sorted(RULES.glob("*.yml"))],
            "scrape_configs": [
                {
                    "job_name": "skiff",
                    "metrics_path": "/metrics",
                    "static_configs": [{"targets": [f"127.0.0.1:{daemon_port}"]}],
                }
            ],
        }
        (root / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = root / "prometheus.log"
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={root / 'prometheus.yml'}",
                    f"--storage.tsdb.path={root / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=logf,
                stderr=logf,
            )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def query(self, expr: str) -> dict[str, Any]:
        """The query API's answer (status success or error) for `expr`, now."""
        status, body = http_get(
            self.url("/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        )
        answer = dict(json.loads(body))
        assert status == 200 or answer.get("status") == "error", (status, body[:300])
        return answer

    def ready(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text()[-2000:]
        try:
            return http_get(self.url("/-/ready"), timeout=1)[0] == 200
        except OSError:
            return False

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Skiff, Prometheus]]:
    """The daemon with its scenario converged and requests served, and Prometheus scraping it."""
    root = tmp_path_factory.mktemp("prometheus-queries")
    (root / "skiff").mkdir()
    skiff = Skiff(root / "skiff", prefix=f"t{uuid.uuid4().hex[:6]}-")
    prometheus: Prometheus | None = None
    try:
        lb_port = free_port()
        skiff.write("all.yaml", scenario(skiff, lb_port))
        skiff.start(*FAST)
        prometheus = Prometheus(root / "prometheus", skiff.port)
        job = post(
            skiff,
            "/v1/batch/jobs",
            {"jobQueue": skiff.name("q"), "jobDefinition": skiff.name("work"), "jobName": "one"},
        )
        assert job.get("jobId"), job

        def served() -> bool:
            return http_get(f"http://127.0.0.1:{lb_port}/", timeout=2)[0] == 200

        wait_for(served, 60, "the listener to serve through a healthy target")
        wait_for(prometheus.ready, 30, "prometheus to be ready")
        wait_for(
            lambda: prometheus.query('up{job="skiff"} == 1')["data"]["result"],
            30,
            "prometheus to scrape the daemon",
        )
        # Requests between scrapes: their response times make a rate, hence a p99.
        for _ in range(10):
            assert served()
        wait_for(
            lambda: (
                skiff.metric(
                    "skiff_target_group_response_time_seconds_count", target_group=skiff.name("web")
                )
                >= 10
            ),
            15,
            "the requests' response times on /metrics",
        )
        yield skiff, prometheus
    finally:
        if prometheus is not None:
            prometheus.stop()
        skiff.stop()
        skiff.stop_haproxy()
        skiff.cleanup()


def test_promtool_finds_nothing_to_say_about_metrics(running: tuple[Skiff, Prometheus]) -> None:
    skiff, _ = running
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: run scripts/ensure-docker.sh (Debian's prometheus)"
    exposition = skiff.get("/metrics")
    for name in ("skiff_host_up", "skiff_resource_status", "skiff_service_deployments"):
        assert name.encode() in exposition
    out = subprocess.run(
        [binary, "check", "metrics"], input=exposition, capture_output=True, timeout=60
    )
    assert out.returncode == 0 and not out.stdout.strip() and not out.stderr.strip(), (
        out.stdout.decode() + out.stderr.decode()
    )


def test_every_rule_and_dashboard_query_parses_and_the_queries_return_series(
    running: tuple[Skiff, Prometheus],
) -> None:
    skiff, prometheus = running
    expressions = rule_expressions() + dashboard_expressions()
    assert any(must for _, _, must in expressions)
    wait_for(
        lambda: prometheus.query('up{job="skiff"} == 1')["data"]["result"],
        30,
        "prometheus to scrape the daemon",
    )
    for where, expr, _ in expressions:
        answer = prometheus.query(expr)
        assert answer["status"] == "success", f"{where}: {expr}\n{answer.get('error')}"
    # Rates need two samples in their window: a second apart here, so seconds.
    waiting = [(w, e) for w, e, must in expressions if must]

    def all_answered() -> bool:
        waiting[:] = [(w, e) for w, e in waiting if not prometheus.query(e)["data"]["result"]]
        return not waiting

    try:
        wait_for(all_answered, 30, "every recording rule and panel query to return a series")
    except AssertionError:
        pass  # said below, query by query
    empty = dict(waiting)
    assert not empty, "queries without a series:\n" + "\n".join(
        f"{w}: {e}" for w, e in empty.items()
    )
    # The per-request histogram reached Prometheus: the p99 of the requests sent, a number.
    recorded = (
        f'skiff:target_group_response_time_seconds:p99_5m{{target_group="{skiff.name("web")}"}}'
    )

    def p99() -> float | None:
        found = prometheus.query(recorded + " >= 0")["data"]["result"]  # NaN compares false
        return float(found[0]["value"][1]) if found else None

    assert wait_for(lambda: p99() is not None, 15, "a p99 response time")
