"""Container settings and the container policy on a real dockerd: what a task definition asks
for (user, read-only root, ulimits, extra hosts, tmpfs, a named volume, dropped capabilities)
is what its container really has; privileged mode needs the daemon's --allow."""

from __future__ import annotations

import re
from typing import Any

import docker
import pytest

from tests.support.daemon import Skiff, wait_for
from tests.support.documents import IMAGE, dump, service_doc, td_doc

pytestmark = pytest.mark.integration

NET_RAW, CHOWN = 13, 0  # capability bits

# Prints what the container is, then waits to be stopped.
REPORT = (
    "echo id=$(id -u):$(id -g); "
    "echo nofile=$(ulimit -Sn)/$(ulimit -Hn); "
    "grep db.example /etc/hosts; "
    "grep ' / ' /proc/mounts; "
    "grep ' /scratch ' /proc/mounts; "
    "echo x > /scratch/x && echo scratch=writable; "
    "echo seed=$(cat /data/seed); "
    "echo mine > /data/mine && echo data=writable; "
    "grep CapBnd /proc/self/status; "
    "echo report-done; "
    "trap 'exit 0' TERM; sleep 300 & wait"
)


def settings(name: str) -> str:
    data = [{"sourceVolume": "data", "containerPath": "/data"}]
    seed = {
        "name": "seed",
        "image": IMAGE,
        "essential": False,
        "memory": 16,
        "command": ["sh", "-c", "echo planted > /data/seed && chown -R 1000:1000 /data"],
        "mountPoints": data,
    }
    app = {
        "name": "app",
        "image": IMAGE,
        "memory": 32,
        "user": "1000:1000",
        "readonlyRootFilesystem": True,
        "ulimits": [{"name": "nofile", "softLimit": 512, "hardLimit": 1024}],
        "extraHosts": [{"hostname": "db.example", "ipAddress": "10.1.2.3"}],
        "mountPoints": data,
        "linuxParameters": {
            "capabilities": {"drop": ["NET_RAW"]},
            "tmpfs": [
                {"containerPath": "/scratch", "size": 8, "mountOptions": ["noexec", "mode=1777"]}
            ],
        },
        "dependsOn": [{"containerName": "seed", "condition": "SUCCESS"}],
        "command": ["sh", "-c", REPORT],
        "stopTimeout": 2,
    }
    return dump(
        td_doc(name, volumes=[{"name": "data"}], containerDefinitions=[seed, app]),
        service_doc(name, desiredCount=1),
    )


def test_a_task_s_container_has_the_settings_its_definition_asks_for(skiff: Skiff) -> None:
    name = skiff.name("settings")
    skiff.write("svc.yaml", settings(name))
    skiff.start()
    app = wait_for(
        lambda: next(
            (
                c
                for c in skiff.running(name)
                if c.labels["skiff.container"] == "app"
                and "report-done" in c.logs().decode(errors="replace")
            ),
            None,
        ),
        40,
        "the app container's report",
    )
    out = app.logs().decode(errors="replace")
    assert "id=1000:1000" in out
    assert "nofile=512/1024" in out
    assert re.search(r"^10\.1\.2\.3\s+db\.example$", out, re.M)
    root = next(line for line in out.splitlines() if " / " in line and "overlay" in line)
    assert root.split()[3].split(",")[0] == "ro"  # the root file system is read-only
    scratch = next(line for line in out.splitlines() if " /scratch " in line)
    assert scratch.startswith("tmpfs /scratch tmpfs") and "noexec" in scratch
    assert "size=8192k" in scratch
    assert "scratch=writable" in out
    assert "seed=planted" in out and "data=writable" in out  # one volume, two containers
    cap_bnd = int(re.search(r"CapBnd:\s+([0-9a-f]+)", out).group(1), 16)  # type: ignore[union-attr]
    assert not cap_bnd & (1 << NET_RAW) and cap_bnd & (1 << CHOWN)

    task = app.labels["skiff.task"]
    volume = f"skiff-{name}-{task[:12]}-data"
    made = skiff.docker.volumes.get(volume)
    assert made.attrs["Labels"]["skiff.task"] == task
    assert made.attrs["Labels"]["skiff.cluster"] == skiff.cluster
    host = app.attrs["HostConfig"]
    assert (host["ReadonlyRootfs"], host["CapDrop"], host["Privileged"]) == (
        True,
        ["NET_RAW"],
        False,
    )

    skiff.write("svc.yaml", "")  # the service goes, and its task's volume with it
    wait_for(lambda: not skiff.containers(name, all=True), 30, "the task removed")
    wait_for(lambda: not _volume_exists(skiff.docker, volume), 10, "the task's volume removed")


def _volume_exists(client: docker.DockerClient, name: str) -> bool:
    try:
        client.volumes.get(name)
    except docker.errors.NotFound:
        return False
    return True


def privileged(name: str) -> str:
    app = {
        "name": "app",
        "image": IMAGE,
        "memory": 16,
        "privileged": True,
        "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait"],
        "stopTimeout": 1,
    }
    return dump(td_doc(name, containerDefinitions=[app]), service_doc(name, desiredCount=1))


def _engine_runs_privileged(skiff: Skiff) -> bool:
    """Some engines (inside a restricted container) cannot grant every capability."""
    try:
        skiff.docker.containers.run(
            IMAGE, "true", privileged=True, remove=True, name=skiff.name("probe")
        )
    except docker.errors.APIError:
        return False
    return True


def _policy_errors(skiff: Skiff) -> list[dict[str, Any]]:
    return [e for e in skiff.status()["errors"] if "policy" in e["message"]]


def test_privileged_needs_allow_privileged(skiff: Skiff) -> None:
    name = skiff.name("priv")
    skiff.write("svc.yaml", privileged(name))
    skiff.start()
    (error,) = wait_for(lambda: _policy_errors(skiff), 20, "the policy's refusal in the status")
    assert error == {
        "file": "svc.yaml",
        "line": 10,  # `privileged: true`: its value, where an editor jumps to
        "column": 17,
        "document": 1,
        "field": "spec.containerDefinitions.0.privileged",
        "message": "privileged containers are not allowed by this daemon's policy "
        "(start it with --allow privileged)",
        "resource": f"TaskDefinition/{name}",
    }
    assert skiff.containers(name, all=True) == []  # nothing was created
    skiff.stop()

    skiff.start("--allow", "privileged")
    wait_for(lambda: skiff.containers(name, all=True), 30, "the privileged task's container")
    (container,) = skiff.containers(name, all=True)[:1]
    assert container.attrs["HostConfig"]["Privileged"] is True
    assert _policy_errors(skiff) == []
    if _engine_runs_privileged(skiff):
        wait_for(lambda: skiff.running(name), 30, "the privileged task running")
    else:  # Skiff let it through; this engine itself cannot run it
        svc = wait_for(
            lambda: next(
                (t for t in skiff.resource("Service", name)["tasks"] if t["stoppedReason"]), None
            ),
            30,
            "the engine's own refusal",
        )
        assert "CannotStartContainerError" in svc["stoppedReason"]
        assert "policy" not in svc["stoppedReason"]


def test_a_shared_volume_bound_to_a_host_path_needs_allow_host_path(
    skiff: Skiff, tmp_path: Any
) -> None:
    """A manifest can name a volume made outside Skiff (here, bound to a host directory, as
    compose's `driver_opts: {type: none, o: bind, device: ...}` does): nothing in the manifest
    says host path, so the daemon asks the engine before it creates the container."""
    name = skiff.name("shared")
    volume_name = skiff.name("hostdir")
    host_dir = tmp_path / "host-dir"
    host_dir.mkdir()
    (host_dir / "secret").write_text("host data\n")
    skiff.docker.volumes.create(
        volume_name,
        driver_opts={"type": "none", "o": "bind", "device": str(host_dir)},
        labels={"made-by": "test"},
    )
    try:
        skiff.write(
            "svc.yaml",
            dump(
                td_doc(
                    name,
                    volumes=[
                        {
                            "name": volume_name,
                            "dockerVolumeConfiguration": {
                                "scope": "shared",
                                "autoprovision": False,
                            },
                        }
                    ],
                    containerDefinitions=[
                        {
                            "name": "app",
                            "image": IMAGE,
                            "memory": 32,
                            "command": ["sleep", "300"],
                            "mountPoints": [{"sourceVolume": volume_name, "containerPath": "/h"}],
                        }
                    ],
                ),
                service_doc(name, desiredCount=1),
            ),
        )
        skiff.start()
        message = wait_for(
            lambda: "host-path" in (m := str(skiff.resource("Service", name))) and m,
            30,
            "the guard's refusal in the service's status",
        )
        assert f"bound to host path {host_dir}" in message
        assert skiff.containers(name, all=True) == []
        skiff.stop()

        skiff.start("--allow", f"host-path:{host_dir}")
        wait_for(lambda: skiff.running(name), 30, "the task once the path is allowed")
    finally:
        skiff.stop()
        skiff.cleanup()
        skiff.docker.volumes.get(volume_name).remove(force=True)
