"""Values that validated but failed at run time: each is now refused by `skiff validate` with its
file, document and field, as ECS or Auto Scaling would refuse it: a container port mapped twice,
task sizes, Fargate sizes, root volume mount paths, and counts beyond AWS's limits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.cli.main import main
from tests.support.documents import container, document, service_doc, td_doc, write
from tests.unit.manifest_values_support import errors

# --- one container port, two mappings --------------------------------------------------------


@pytest.mark.parametrize(
    "mappings",
    [
        [{"containerPort": 80}, {"containerPort": 80}],
        [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 80, "hostPort": 8081}],
        [{"containerPort": 53, "protocol": "udp"}, {"containerPort": 53, "protocol": "udp"}],
    ],
    ids=["two-dynamic", "two-static", "udp"],
)
def test_a_container_port_mapped_twice_is_refused_as_ecs_does(
    tmp_path: Path, mappings: list[dict[str, Any]]
) -> None:
    # Docker's port bindings are keyed by container port: one of the two would vanish.
    found = errors(tmp_path, td_doc("web", containerDefinitions=[container(portMappings=mappings)]))
    assert list(found) == ["1:spec.containerDefinitions.0.portMappings.1.containerPort"]
    assert (
        "already mapped by portMappings 0"
        in found["1:spec.containerDefinitions.0.portMappings.1.containerPort"]
    )


def test_one_port_for_tcp_and_udp_stays_two_mappings(tmp_path: Path) -> None:
    mappings = [{"containerPort": 53, "protocol": "tcp"}, {"containerPort": 53, "protocol": "udp"}]
    assert (
        errors(tmp_path, td_doc("dns", containerDefinitions=[container(portMappings=mappings)]))
        == {}
    )


# --- task size --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "field"),
    [
        ({"cpu": 0}, "cpu"),
        ({"cpu": 127}, "cpu"),
        ({"cpu": "0.1 vCPU"}, "cpu"),
        ({"cpu": 196609}, "cpu"),
        ({"memory": 1}, "memory"),
        ({"memory": 5}, "memory"),
    ],
)
def test_task_cpu_and_memory_outside_ecs_bounds_are_refused(
    tmp_path: Path, task: dict[str, Any], field: str
) -> None:
    doc = td_doc("web", containerDefinitions=[container(memory=None)], **{"memory": 512, **task})
    found = errors(tmp_path, doc)
    assert list(found) == [f"1:spec.{field}"], found


@pytest.mark.parametrize(
    "task",
    [{"cpu": 128}, {"cpu": "0.125 vCPU"}, {"cpu": 196608}, {"memory": 6}, {"memory": "1 GB"}],
)
def test_task_cpu_and_memory_at_ecs_bounds_are_fine(tmp_path: Path, task: dict[str, Any]) -> None:
    doc = td_doc("web", containerDefinitions=[container(memory=None)], **{"memory": 512, **task})
    assert errors(tmp_path, doc) == {}


# --- Fargate on the task definition itself -----------------------------------------------------

FARGATE = {"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc"}
NO_FARGATE_SIZE = "No Fargate configuration exists for given values"


@pytest.mark.parametrize(
    ("task", "field", "fragment"),
    [
        ({"cpu": 256, "memory": 4096}, "memory", "with cpu 256, memory is 512, 1024 or 2048"),
        ({"cpu": 512, "memory": 512}, "memory", "1024 to 4096 in steps of 1024"),
        ({"cpu": 2048, "memory": 2048}, "memory", "4096 to 16384 in steps of 1024"),
        ({"cpu": 4096, "memory": 4096}, "memory", "8192 to 30720 in steps of 1024"),
        ({"cpu": 8192, "memory": 18432}, "memory", "16384 to 61440 in steps of 4096"),
        ({"cpu": 16384, "memory": 131072}, "memory", "32768 to 122880 in steps of 8192"),
        ({"cpu": 384, "memory": 1024}, "cpu", "cpu is one of 256, 512, 1024, 2048"),
        ({"memory": 512}, "cpu", "Fargate requires that 'cpu' be defined at the task level"),
        ({"cpu": 256, "memory": 512, "networkMode": "bridge"}, "networkMode", "awsvpc"),
    ],
)
def test_a_fargate_task_definition_without_a_fargate_size_is_refused(
    tmp_path: Path, task: dict[str, Any], field: str, fragment: str
) -> None:
    found = errors(tmp_path, td_doc("web", **{**FARGATE, **task}))
    assert list(found) == [f"1:spec.{field}"]
    assert fragment in found[f"1:spec.{field}"]


def test_a_fargate_size_refused_says_so_in_aws_words_and_names_the_memory_that_would_do(
    tmp_path: Path,
) -> None:
    found = errors(tmp_path, td_doc("web", cpu=256, memory=4096, **FARGATE))
    assert found == {
        "1:spec.memory": f"{NO_FARGATE_SIZE}: 256 CPU, 4096 memory; "
        "with cpu 256, memory is 512, 1024 or 2048"
    }


def test_a_fargate_cpu_refused_names_the_cpus_fargate_has_and_those_for_the_memory(
    tmp_path: Path,
) -> None:
    found = errors(tmp_path, td_doc("web", cpu=384, memory=1024, **FARGATE))
    assert found == {
        "1:spec.cpu": f"{NO_FARGATE_SIZE}: 384 CPU, 1024 memory; "
        "cpu is one of 256, 512, 1024, 2048, 4096, 8192 or 16384 (with memory 1024: 256 or 512)"
    }


def test_a_fargate_task_definition_without_task_cpu_and_memory_is_refused_on_both(
    tmp_path: Path,
) -> None:
    doc = td_doc("web", containerDefinitions=[container(memory=64)], **FARGATE)
    assert errors(tmp_path, doc) == {
        "1:spec.cpu": "Fargate requires that 'cpu' be defined at the task level",
        "1:spec.memory": "Fargate requires that 'memory' be defined at the task level",
    }


def test_skiff_validate_refuses_a_fargate_task_definition_of_no_fargate_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Alone in its file: no Service with launchType FARGATE needed to find it out.
    write(tmp_path, "web.yaml", td_doc("web", cpu=256, memory=4096, **FARGATE))
    assert main(["validate", str(tmp_path)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{tmp_path / 'web.yaml'}:7:11: document 1 TaskDefinition/web: spec.memory: "
        f"{NO_FARGATE_SIZE}: 256 CPU, "
        "4096 memory; with cpu 256, memory is 512, 1024 or 2048"
    ]


@pytest.mark.parametrize(
    "task",
    [
        {"cpu": "0.25 vCPU", "memory": "0.5 GB"},
        {"cpu": 512, "memory": 4096},
        {"cpu": 4096, "memory": 30720},
        {"cpu": 8192, "memory": 61440},
        {"cpu": 16384, "memory": "120 GB"},
    ],
)
def test_a_fargate_task_definition_with_a_fargate_size_is_fine(
    tmp_path: Path, task: dict[str, Any]
) -> None:
    assert errors(tmp_path, td_doc("web", **{**FARGATE, **task})) == {}


def test_an_ec2_and_fargate_task_definition_needs_a_fargate_size_too(tmp_path: Path) -> None:
    # "For task definitions that specify FARGATE (even if EC2 is also specified)" (ECS guide)
    doc = td_doc(
        "web", cpu=256, memory=4096, **{**FARGATE, "requiresCompatibilities": ["EC2", "FARGATE"]}
    )
    assert list(errors(tmp_path, doc)) == ["1:spec.memory"]


# --- root volumes ------------------------------------------------------------------------------


def template(mount_path: str) -> dict[str, Any]:
    data = {"imageId": "busybox", "rootVolume": {"mountPath": mount_path}}
    return document("LaunchTemplate", "base", {"launchTemplateData": data})


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "data",
        "/data/../etc",
        "/data/./x",
        "//data",
        "/data/",
        "/data ",
        " /data",
        "/da\x01ta",
        "/da\nta",
        "/proc",
        "/sys/fs",
        "/dev",
        "/a:b",
        "/a,b",
    ],
)
def test_a_root_volume_mount_path_that_is_not_a_clean_absolute_path_is_refused(
    tmp_path: Path, path: str
) -> None:
    found = errors(tmp_path, template(path))
    assert list(found) == ["1:spec.launchTemplateData.rootVolume.mountPath"]


@pytest.mark.parametrize("path", ["/data", "/var/lib/app", "/srv/db-1", "/procfs"])
def test_clean_mount_paths_are_fine(tmp_path: Path, path: str) -> None:
    assert errors(tmp_path, template(path)) == {}


# --- counts ------------------------------------------------------------------------------------


def test_a_service_runs_at_most_5000_tasks(tmp_path: Path) -> None:
    assert errors(tmp_path, td_doc("web"), service_doc("web", desiredCount=5000)) == {}
    found = errors(
        tmp_path,
        td_doc("web"),
        service_doc("web", desiredCount=5001, autoScaling={"minCapacity": 0, "maxCapacity": 5001}),
    )
    assert set(found) == {"2:spec.desiredCount", "2:spec.autoScaling.maxCapacity"}


def group(**sizes: int) -> dict[str, Any]:
    spec = {"launchTemplate": {"launchTemplateName": "base"}, "availabilityZones": ["local"]}
    return document("AutoScalingGroup", "workers", {**spec, **sizes})


def test_an_auto_scaling_group_holds_at_most_5000_instances(tmp_path: Path) -> None:
    base = document("LaunchTemplate", "base", {"launchTemplateData": {"imageId": "busybox"}})
    assert errors(tmp_path, base, group(minSize=0, maxSize=5000)) == {}
    found = errors(tmp_path, base, group(minSize=0, maxSize=5001, desiredCapacity=5001))
    assert set(found) == {"2:spec.maxSize", "2:spec.desiredCapacity"}


def test_a_scheduled_action_sets_no_size_its_target_cannot_hold(tmp_path: Path) -> None:
    action = document(
        "ScheduledAction",
        "big",
        {"target": {"service": "web"}, "recurrence": "0 8 * * *", "maxSize": 5001},
    )
    found = errors(tmp_path, td_doc("web"), service_doc("web"), action)
    assert list(found) == ["3:spec.maxSize"]
