"""deploy/compose/docker-compose.yml as an operator runs it: `docker-compose config` accepts it,
and its `skiff` and `prometheus` services start from locally built images (no registry here):
the daemon reaches Docker through the mounted socket, answers on 127.0.0.1 with the token given,
runs a service behind a load balancer whose listener answers on the host's loopback (the reason
the file uses the host's network), and Prometheus scrapes it. Grafana's image cannot be pulled
on this machine, so it is not started (tests/unit/test_deploy_files.py checks its provisioning
files).

Each run has its own compose project, cluster, manifest directory and free ports, so it runs
beside a daemon already on 9464; `docker-compose down -v` removes its containers and volumes,
and the service's task containers (labelled with the run's cluster) are removed after it. The
images are built once (deploy/compose/build-local-images.sh, cached by tag).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

from controller.core.labels import CLUSTER
from tests.support.daemon import free_port, wait_for
from tests.support.documents import (
    health_check,
    load_balancer_doc,
    target_group_doc,
    web_service_docs,
    write,
)

pytestmark = pytest.mark.integration

COMPOSE_DIR = Path(__file__).resolve().parents[2] / "deploy" / "compose"
TOKEN = "compose-test-" + uuid.uuid4().hex


def _compose() -> str:
    found = shutil.which("docker-compose")
    assert found, "docker-compose is missing: scripts/ensure-docker.sh installs it"
    return found


@pytest.fixture(scope="session")
def local_images() -> None:
    """The images the compose file names by default, built once and kept by tag."""
    subprocess.run([str(COMPOSE_DIR / "build-local-images.sh")], check=True, timeout=1200)


@pytest.fixture
def project(tmp_path: Path, local_images: None) -> Iterator[dict[str, Any]]:
    """A compose project of its own: its environment, and `docker-compose down -v` at the end."""
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    skiff_port, prometheus_port, listener = free_port(), free_port(), free_port()
    lb = {"targetGroup": "web", "containerName": "web", "containerPort": 8080}
    write(
        manifests,
        "web.yaml",
        *web_service_docs("web", 1, env="served-from-compose", service={"loadBalancers": [lb]}),
        target_group_doc("web", healthCheck=health_check("/")),
        load_balancer_doc("front", listener),
    )
    # The committed Prometheus configuration, pointed at this run's daemon and scraping every
    # second so the test does not wait 15 s for the first scrape.
    config = yaml.safe_load((COMPOSE_DIR / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = "1s"
    (job,) = config["scrape_configs"]
    assert job["static_configs"] == [{"targets": ["127.0.0.1:9464"]}]
    job["static_configs"] = [{"targets": [f"127.0.0.1:{skiff_port}"]}]
    prometheus_yml = tmp_path / "prometheus.yml"
    prometheus_yml.write_text(yaml.safe_dump(config))
    prometheus_yml.chmod(0o644)  # read by the image's prometheus user
    name = f"skiffcompose{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "SKIFF_TOKEN": TOKEN,
        "SKIFF_PORT": str(skiff_port),
        "PROMETHEUS_PORT": str(prometheus_port),
        "SKIFF_CLUSTER": name,
        "SKIFF_MANIFESTS": str(manifests),
        "SKIFF_PROMETHEUS_CONFIG": str(prometheus_yml),
        "SKIFF_BASE_IMAGE": "skiff/python:bookworm",
    }
    run = [_compose(), "-p", name, "-f", str(COMPOSE_DIR / "docker-compose.yml")]
    try:
        yield {
            "run": run,
            "env": env,
            "skiff": skiff_port,
            "prometheus": prometheus_port,
            "listener": listener,
        }
    finally:
        logs = subprocess.run([*run, "logs", "--tail", "40"], env=env, capture_output=True)
        print(logs.stdout.decode(errors="replace"))  # shown when the test fails
        subprocess.run([*run, "down", "-v", "--timeout", "5"], env=env, check=True, timeout=120)
        for task in docker.from_env().containers.list(
            all=True, filters={"label": f"{CLUSTER}={name}"}
        ):
            task.remove(force=True)


def _get(url: str, token: str | None = None) -> Any:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=5) as answer:
        body = answer.read()
    return json.loads(body) if body.startswith((b"{", b"[")) else body.decode()


def test_compose_file_parses_and_needs_a_token(tmp_path: Path) -> None:
    # --env-file: an operator's .env beside the file, if any, plays no part here.
    empty = tmp_path / "empty.env"
    empty.write_text("")
    compose = [_compose(), "--env-file", str(empty), "-f", str(COMPOSE_DIR / "docker-compose.yml")]
    base = {**os.environ, "SKIFF_TOKEN": TOKEN}
    config = subprocess.run(
        [*compose, "config"], env=base, capture_output=True, text=True, check=True
    )
    services = yaml.safe_load(config.stdout)["services"]
    assert set(services) == {"skiff", "prometheus", "grafana"}
    assert "--listen=127.0.0.1:9464" in services["skiff"]["command"]
    assert "--web.listen-address=127.0.0.1:9090" in services["prometheus"]["command"]
    assert services["skiff"]["environment"]["SKIFF_TOKEN"] == TOKEN
    # Without a token the file refuses to be used, and says what to set.
    env = {k: v for k, v in base.items() if k != "SKIFF_TOKEN"}
    refused = subprocess.run([*compose, "config"], env=env, capture_output=True, text=True)
    assert refused.returncode != 0
    assert "set SKIFF_TOKEN" in refused.stderr


def test_daemon_and_prometheus_start_from_the_compose_file(project: dict[str, Any]) -> None:
    subprocess.run(
        [*project["run"], "up", "-d", "skiff", "prometheus"],
        env=project["env"],
        check=True,
        timeout=600,
    )
    skiff = f"http://127.0.0.1:{project['skiff']}"
    assert wait_for(lambda: _get(f"{skiff}/healthz"), 60, "the daemon's /healthz")
    # Ready: the manifests are read and the engine listed, through the mounted docker.sock.
    wait_for(lambda: _get(f"{skiff}/readyz"), 60, "the daemon's /readyz")
    # The token given to compose is the daemon's.
    status = _get(f"{skiff}/v1/status", TOKEN)
    assert isinstance(status, dict)
    # HAProxy, started in the daemon's container, listens on the host's loopback and reaches
    # the task on the host port Docker published.
    listener = f"http://127.0.0.1:{project['listener']}/"
    served = wait_for(
        lambda: "served-from-compose" in _get(listener), 90, "the load balancer to serve the task"
    )
    assert served

    prometheus = f"http://127.0.0.1:{project['prometheus']}"

    def skiff_target_up() -> bool:
        targets = _get(f"{prometheus}/api/v1/targets")["data"]["activeTargets"]
        return any(
            t["labels"]["job"] == "skiff"
            and t["scrapeUrl"] == f"{skiff}/metrics"
            and t["health"] == "up"
            for t in targets
        )

    wait_for(skiff_target_up, 60, "Prometheus to scrape the daemon")
    # It loaded every rule file of deploy/prometheus/rules.
    groups = _get(f"{prometheus}/api/v1/rules")["data"]["groups"]
    rules = COMPOSE_DIR.parent / "prometheus" / "rules"
    assert {Path(g["file"]).name for g in groups} == {f.name for f in rules.glob("*.yml")}
    # What it scraped is the daemon's own metrics.
    answer = _get(f"{prometheus}/api/v1/query?query=skiff_workqueue_depth")
    assert answer["data"]["result"], answer
