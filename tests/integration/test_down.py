"""`skiff down` after a real daemon ran a service of two tasks behind a load balancer, an awsvpc
task with a volume of its own, an instance with an `ebs` root volume and a two-node Batch job
on its own network, on the real dockerd and a real HAProxy: everything of the cluster goes, the
ebs volume only with --volumes, and another cluster's container and volume and a container
that is not Skiff's stay."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker.errors
import pytest

from tests.integration.test_fleet import instance, state
from tests.integration.test_load_balancer import app, balancer, get, serving
from tests.support.daemon import Skiff, free_port, wait_for
from tests.support.documents import (
    IMAGE,
    compute_environment_doc,
    dump,
    job_definition_doc,
    job_queue_doc,
    service_doc,
    td_doc,
)

pytestmark = pytest.mark.integration


def down(skiff: Skiff, *flags: str) -> subprocess.CompletedProcess[str]:
    """`skiff down` for the test's cluster and data directory, its stdin not a terminal."""
    return subprocess.run(
        [sys.executable, "-m", "controller", "down", "--data-dir", str(skiff.data)]
        + ["--cluster", skiff.cluster, *flags],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def cluster_containers(skiff: Skiff) -> list[str]:
    found = skiff.docker.containers.list(
        all=True, sparse=True, filters={"label": f"skiff.cluster={skiff.cluster}"}
    )
    return sorted(c.id for c in found)


def cluster_volumes(skiff: Skiff) -> list[str]:
    found = skiff.docker.volumes.list(filters={"label": f"skiff.cluster={skiff.cluster}"})
    return sorted(v.name for v in found)


def sidecar(name: str) -> str:
    """Service `name`: one awsvpc task (a sandbox and its container) with a task-scoped volume."""
    app = {
        "name": "app",
        "image": IMAGE,
        "memory": 32,
        "command": ["sleep", "600"],
        "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/scratch"}],
    }
    scratch = {"name": "scratch", "dockerVolumeConfiguration": {"scope": "task"}}
    return dump(
        td_doc(name, networkMode="awsvpc", volumes=[scratch], containerDefinitions=[app]),
        service_doc(name, desiredCount=1),
    )


def cluster_networks(skiff: Skiff) -> list[str]:
    found = skiff.docker.networks.list(filters={"label": f"skiff.cluster={skiff.cluster}"})
    return sorted(n.name for n in found)


def two_node_queue() -> str:
    """Queue `q` and definition `pair`: a multi-node job of two containers on their own
    network, sleeping long after the daemon has stopped."""
    node = {"image": IMAGE, "command": ["sleep", "600"], "vcpus": 0.25, "memory": 32}
    pair = job_definition_doc(
        "pair",
        type="multinode",
        nodeProperties={
            "numNodes": 2,
            "nodeRangeProperties": [{"targetNodes": "0:", "container": node}],
        },
    )
    return dump(compute_environment_doc("ce", maxvCpus=2), job_queue_doc("q", "ce"), pair)


def volume_exists(skiff: Skiff, name: str) -> bool:
    try:
        skiff.docker.volumes.get(name)
    except docker.errors.NotFound:
        return False
    return True


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie, exited but not yet reaped, does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


@pytest.fixture
def bystanders(skiff: Skiff) -> Iterator[dict[str, str]]:
    """A container and a volume of another cluster, and a container that is not Skiff's, named
    after the test (its clean-up removes the containers; this fixture the volumes)."""
    other = f"{skiff.cluster}-other"
    labels = {"skiff.managed-by": "skiff", "skiff.cluster": other, "skiff.kind": "Service"}
    volume = f"{skiff.prefix}other-vol"
    made = {
        "other": skiff.docker.containers.create(
            IMAGE, ["sleep", "600"], name=skiff.name("other-cluster"), labels=labels
        ).id,
        "plain": skiff.docker.containers.create(
            IMAGE, ["sleep", "600"], name=skiff.name("not-skiff")
        ).id,
        "volume": skiff.docker.volumes.create(volume, labels=labels).name,
    }
    try:
        yield made
    finally:  # with the test's instance volume, if it left it ("root", once known)
        skiff.stop()
        skiff.cleanup()  # the containers first: a network with containers cannot go
        for network in skiff.docker.networks.list(
            filters={"label": f"skiff.cluster={skiff.cluster}"}
        ):
            network.remove()
        for name in (volume, made.get("root")):
            try:
                if name:
                    skiff.docker.volumes.get(name).remove(force=True)
            except docker.errors.NotFound:
                pass


def test_down_removes_the_clusters_containers_and_haproxy_and_keeps_ebs_until_told(
    skiff: Skiff, bystanders: dict[str, str]
) -> None:
    web, db, side, port = skiff.name("web"), skiff.name("db"), skiff.name("side"), free_port()
    skiff.write("web.yaml", app(web, 2))
    skiff.write("side.yaml", sidecar(side))
    skiff.write("lb.yaml", balancer(skiff.name("front"), port, web))
    skiff.write("db.yaml", instance(db, "ebs"))
    skiff.write("jobs.yaml", two_node_queue())
    skiff.start()
    submitted = subprocess.run(
        [sys.executable, "-m", "controller", "batch", "submit", "--queue", "q", "--definition"]
        + ["pair", "--api", skiff.api_url],
        capture_output=True,
        text=True,
        timeout=30,
        env=skiff.cli_env(),
    )
    assert submitted.returncode == 0, submitted.stderr
    wait_for(lambda: serving(skiff, web, 2), 60, "2 tasks healthy behind the listener")
    wait_for(lambda: state(skiff, db) == "running", 60, "the instance running")
    wait_for(lambda: len(skiff.running(side)) == 2, 60, "the awsvpc task and its sandbox")
    wait_for(lambda: len(skiff.running("q")) == 2, 60, "the job's two node containers")
    root = f"skiff-{skiff.resource('Instance', db)['instanceId']}-root"
    bystanders["root"] = root
    haproxy = int((skiff.data / "haproxy" / "haproxy.pid").read_text().split()[0])
    assert len(cluster_containers(skiff)) == 7 and volume_exists(skiff, root)
    assert len(cluster_volumes(skiff)) == 1  # the awsvpc task's own
    assert len(cluster_networks(skiff)) == 1  # the multi-node job's

    running = down(skiff, "--yes")
    assert running.returncode == 1, running.stdout + running.stderr
    assert (
        "still running" in running.stderr and str(skiff.proc and skiff.proc.pid) in running.stderr
    )
    assert len(cluster_containers(skiff)) == 7

    skiff.stop()
    assert len(cluster_containers(skiff)) == 7 and alive(haproxy)  # what `down` is for

    unanswered = down(skiff)  # no terminal to ask on, no --yes
    assert unanswered.returncode == 1
    assert "pass --yes" in unanswered.stderr
    assert (
        "3 task containers, 1 awsvpc sandbox, 1 instance container, 2 Batch job containers, "
        "1 task volume, 1 network, 1 HAProxy process" in unanswered.stdout
    )
    assert root in unanswered.stdout and "--volumes" in unanswered.stdout  # listed as kept
    assert len(cluster_containers(skiff)) == 7 and alive(haproxy)

    done = down(skiff, "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert cluster_containers(skiff) == [] and cluster_volumes(skiff) == []
    assert cluster_networks(skiff) == []
    assert not alive(haproxy)
    assert _refused(port)  # the listener is gone with HAProxy
    assert volume_exists(skiff, root)  # the instance's ebs volume is kept
    _assert_bystanders_stay(skiff, bystanders)

    again = down(skiff, "--yes", "--volumes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert not volume_exists(skiff, root)
    _assert_bystanders_stay(skiff, bystanders)

    nothing = down(skiff)
    assert nothing.returncode == 0 and "Nothing to remove" in nothing.stdout


def _refused(port: int) -> bool:
    try:
        get(port, timeout=2)
    except OSError:
        return True
    return False


def _assert_bystanders_stay(skiff: Skiff, made: dict[str, str]) -> None:
    skiff.docker.containers.get(made["other"])
    skiff.docker.containers.get(made["plain"])
    assert volume_exists(skiff, made["volume"])


def test_down_of_an_unreachable_engine_exits_3_naming_it(tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    socket = tmp_path / "no-engine.sock"
    (manifests / "hosts.yaml").write_text(
        "apiVersion: skiff/v1\nkind: Host\nmetadata: {name: far}\n"
        f"spec: {{url: 'unix://{socket}'}}\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "controller", "down", "--yes", "--manifests", str(manifests)]
        + ["--data-dir", str(tmp_path / "data"), "--cluster", f"t{uuid.uuid4().hex[:6]}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 3, out.stdout + out.stderr
    assert "cannot reach engine 'far'" in out.stderr and str(socket) in out.stderr


def on_a_terminal(argv: list[str], answer: str) -> tuple[int, str]:
    """Runs `argv` with a pseudo-terminal as its stdin and stdout, types `answer` once it asks,
    and returns its exit code and what it printed."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    seen = b""
    try:
        while b"[y/N] " not in seen:
            chunk = os.read(leader, 4096)
            assert chunk, f"it ended without asking: {seen.decode(errors='replace')}"
            seen += chunk
        os.write(leader, answer.encode() + b"\n")
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the command has exited and closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        return proc.wait(timeout=60), seen.decode(errors="replace")
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()


def test_on_a_terminal_it_asks_and_only_yes_removes(tmp_path: Path) -> None:
    client = docker.from_env()
    cluster = f"t{uuid.uuid4().hex[:6]}"
    labels = {"skiff.managed-by": "skiff", "skiff.cluster": cluster, "skiff.task": "t1"}
    box = client.containers.create(IMAGE, ["sleep", "600"], name=f"{cluster}-task", labels=labels)
    argv = [sys.executable, "-m", "controller", "down", "--cluster", cluster]
    argv += ["--data-dir", str(tmp_path)]
    try:
        code, text = on_a_terminal(argv, "n")
        assert code == 1 and "1 task container" in text and "nothing was removed" in text
        client.containers.get(box.id)  # still there
        code, text = on_a_terminal(argv, "y")
        assert code == 0, text
        with pytest.raises(docker.errors.NotFound):
            client.containers.get(box.id)
    finally:
        try:
            box.remove(force=True)
        except docker.errors.NotFound:
            pass
