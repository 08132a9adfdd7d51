"""The daemon's container policy: each --allow flag allows exactly its thing, nothing else, and
a refusal names the file, document, field and the flag that would allow it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.batch.models.batch import JobDefinitionSpec
from controller.catalog import load_directory
from controller.catalog import policy_problems as problems
from controller.cli.main import main
from controller.ec2.models.ec2 import InstanceSpec, LaunchTemplateSpec
from controller.ecs.models.task_definition import TaskDefinitionSpec
from controller.manifests.policy import (
    BASELINE,
    DOCKER_DEFAULT_CAPABILITIES,
    FLAGS,
    Policy,
    driver_host_path,
)
from tests.support.documents import container, document, td_doc, write


def td(**task: Any) -> TaskDefinitionSpec:
    task.setdefault("containerDefinitions", [container()])
    return TaskDefinitionSpec.model_validate(task)


def linux(**fields: Any) -> TaskDefinitionSpec:
    return td(containerDefinitions=[container(linuxParameters=fields)])


# One spec per thing the baseline refuses, with the flag meant to allow it.
ASKS: dict[str, TaskDefinitionSpec] = {
    "privileged": td(containerDefinitions=[container(privileged=True)]),
    "host-network": td(networkMode="host"),
    "host-pid": td(pidMode="host"),
    "host-ipc": td(ipcMode="host"),
    "host-path": td(volumes=[{"name": "v", "host": {"sourcePath": "/srv/data"}}]),
    "devices": linux(devices=[{"hostPath": "/dev/fuse"}]),
    "capabilities": linux(capabilities={"add": ["SYS_ADMIN"]}),
}


def test_the_table_has_a_flag_for_every_thing_the_baseline_refuses() -> None:
    assert set(ASKS) == set(FLAGS)
    for flag, spec in ASKS.items():
        assert problems("TaskDefinition", spec, BASELINE), flag


@pytest.mark.parametrize("flag", list(FLAGS))
def test_each_flag_allows_exactly_its_thing(flag: str) -> None:
    policy = Policy.parse([flag])
    for asked, spec in ASKS.items():
        refused = problems("TaskDefinition", spec, policy)
        assert (refused == []) is (asked == flag), (flag, asked, refused)


def test_the_refusal_names_file_document_field_and_flag(tmp_path: Path) -> None:
    write(
        tmp_path,
        "manifests/web.yaml",
        td_doc("other"),
        td_doc("web", containerDefinitions=[container(privileged=True)]),
    )
    result = load_directory(str(tmp_path))
    assert [str(e) for e in result.errors] == [
        "manifests/web.yaml:20:17: document 2 TaskDefinition/web: spec.containerDefinitions.0."
        "privileged: privileged containers are not allowed by this daemon's policy "
        "(start it with --allow privileged)"
    ]
    assert ("TaskDefinition", "web") in result.claimed  # its last valid version is kept
    assert ("TaskDefinition", "other") in result.resources
    allowed = load_directory(str(tmp_path), Policy.parse(["privileged"]))
    assert allowed.ok and ("TaskDefinition", "web") in allowed.resources


@pytest.mark.parametrize(
    ("spec", "field", "flag"),
    [
        (ASKS["host-network"], "networkMode", "host-network"),
        (ASKS["host-pid"], "pidMode", "host-pid"),
        (ASKS["host-ipc"], "ipcMode", "host-ipc"),
        (ASKS["host-path"], "volumes.0.host.sourcePath", "host-path:/srv/data"),
        (ASKS["devices"], "containerDefinitions.0.linuxParameters.devices.0.hostPath", "devices"),
        (
            ASKS["capabilities"],
            "containerDefinitions.0.linuxParameters.capabilities.add.0",
            "capability:SYS_ADMIN",
        ),
        (
            linux(capabilities={"add": ["ALL"]}),
            "containerDefinitions.0.linuxParameters.capabilities.add.0",
            "capabilities",
        ),
    ],
)
def test_each_refusal_suggests_the_narrowest_flag(
    spec: TaskDefinitionSpec, field: str, flag: str
) -> None:
    ((path, message),) = problems("TaskDefinition", spec, BASELINE)
    assert ".".join(map(str, path)) == field
    assert message.endswith(f"not allowed by this daemon's policy (start it with --allow {flag})")
    assert problems("TaskDefinition", spec, Policy.parse([flag])) == []


@pytest.mark.parametrize(
    ("source", "allowed"),
    [("/srv", True), ("/srv/data", True), ("//srv//data/x", True), ("/srvx", False), ("/", False)],
)
def test_host_path_with_a_prefix_allows_only_paths_under_it(source: str, allowed: bool) -> None:
    spec = td(volumes=[{"name": "v", "host": {"sourcePath": source}}])
    assert (problems("TaskDefinition", spec, Policy.parse(["host-path:/srv"])) == []) is allowed


def test_host_path_of_root_is_every_path() -> None:
    spec = td(volumes=[{"name": "v", "host": {"sourcePath": "/"}}])
    assert problems("TaskDefinition", spec, Policy.parse(["host-path:/"])) == []
    assert problems("TaskDefinition", spec, BASELINE)[0][1].endswith("--allow host-path)")


def test_a_capability_flag_allows_that_one_capability_only() -> None:
    policy = Policy.parse(["capability:NET_ADMIN"])
    assert problems("TaskDefinition", linux(capabilities={"add": ["NET_ADMIN"]}), policy) == []
    for other in ("SYS_ADMIN", "ALL"):
        assert problems("TaskDefinition", linux(capabilities={"add": [other]}), policy)


@pytest.mark.parametrize("name", sorted(DOCKER_DEFAULT_CAPABILITIES))
def test_capabilities_of_docker_s_default_set_and_drops_need_no_flag(name: str) -> None:
    spec = linux(capabilities={"add": [name], "drop": ["ALL"]})
    assert problems("TaskDefinition", spec, BASELINE) == []


def test_the_baseline_lets_ordinary_settings_through() -> None:
    spec = td(
        networkMode="bridge",
        pidMode="task",
        ipcMode="none",
        volumes=[
            {"name": "data"},
            {
                "name": "cache",
                "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": True},
            },
            {
                "name": "ram",
                "dockerVolumeConfiguration": {"driverOpts": {"type": "tmpfs", "device": "tmpfs"}},
            },
        ],
        containerDefinitions=[
            container(
                user="1000",
                readonlyRootFilesystem=True,
                mountPoints=[{"sourceVolume": "data", "containerPath": "/data"}],
                linuxParameters={
                    "initProcessEnabled": True,
                    "tmpfs": [{"containerPath": "/tmp", "size": 8}],
                    "capabilities": {"drop": ["NET_RAW"]},
                },
            )
        ],
    )
    assert problems("TaskDefinition", spec, BASELINE) == []


@pytest.mark.parametrize(
    ("driver", "options", "reaches", "path"),
    [
        (None, {}, False, None),
        ("local", {"type": "tmpfs", "device": "tmpfs", "o": "size=64m"}, False, None),
        ("local", {"type": "none", "o": "bind", "device": "/srv/x"}, True, "/srv/x"),
        (None, {"o": "rbind,ro", "device": "/etc"}, True, "/etc"),
        ("local", {"type": "ext4", "device": "/dev/sda1"}, True, "/dev/sda1"),
        ("local", {"type": "nfs", "o": "addr=10.0.0.1", "device": ":/export"}, True, None),
        ("local", {"o": "bind", "device": "/srv/../etc"}, True, None),
        ("rexray/ebs", {"size": "10"}, False, None),
    ],
)
def test_driver_options_that_reach_into_the_host_are_host_paths(
    driver: str | None, options: dict[str, str], reaches: bool, path: str | None
) -> None:
    assert driver_host_path(driver, options) == (reaches, path)


def test_a_bind_through_driver_options_needs_host_path() -> None:
    config = {"driverOpts": {"type": "none", "o": "bind", "device": "/srv/x"}}
    spec = td(volumes=[{"name": "v", "dockerVolumeConfiguration": config}])
    ((path, message),) = problems("TaskDefinition", spec, BASELINE)
    assert path == ("volumes", 0, "dockerVolumeConfiguration", "driverOpts", "device")
    assert message.endswith("(start it with --allow host-path:/srv/x)")
    assert problems("TaskDefinition", spec, Policy.parse(["host-path:/srv"])) == []
    nfs = {"driverOpts": {"type": "nfs", "device": ":/export"}}
    spec = td(volumes=[{"name": "v", "dockerVolumeConfiguration": nfs}])
    assert problems("TaskDefinition", spec, Policy.parse(["host-path:/srv"]))
    assert problems("TaskDefinition", spec, Policy.parse(["host-path"])) == []


def test_batch_job_definitions_are_under_the_same_policy() -> None:
    spec = JobDefinitionSpec.model_validate(
        {
            "type": "multinode",
            "nodeProperties": {
                "numNodes": 2,
                "nodeRangeProperties": [
                    {"targetNodes": "0", "container": {"image": "b", "privileged": True}},
                    {
                        "targetNodes": "1",
                        "container": {
                            "image": "b",
                            "volumes": [{"name": "v", "host": {"sourcePath": "/data"}}],
                            "linuxParameters": {"devices": [{"hostPath": "/dev/kvm"}]},
                        },
                    },
                ],
            },
        }
    )
    at = "nodeProperties.nodeRangeProperties"
    assert [
        (".".join(map(str, p)), m.rpartition("--allow ")[2])
        for p, m in problems("JobDefinition", spec, BASELINE)
    ] == [
        (f"{at}.0.container.privileged", "privileged)"),
        (f"{at}.1.container.volumes.0.host.sourcePath", "host-path:/data)"),
        (f"{at}.1.container.linuxParameters.devices.0.hostPath", "devices)"),
    ]
    everything = Policy.parse(["privileged", "host-path", "devices"])
    assert problems("JobDefinition", spec, everything) == []


def test_launch_templates_and_inline_instances_are_under_the_same_policy() -> None:
    data = {
        "imageId": "b",
        "privileged": True,
        "linuxParameters": {"capabilities": {"add": ["NET_ADMIN"]}},
    }
    template = LaunchTemplateSpec.model_validate({"launchTemplateData": data})
    instance = InstanceSpec.model_validate({"launchTemplateData": data})
    for kind, spec in (("LaunchTemplate", template), ("Instance", instance)):
        assert [".".join(map(str, p)) for p, _ in problems(kind, spec, BASELINE)] == [
            "launchTemplateData.privileged",
            "launchTemplateData.linuxParameters.capabilities.add.0",
        ]
        policy = Policy.parse(["privileged", "capability:NET_ADMIN"])
        assert problems(kind, spec, policy) == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("root", "unknown --allow value 'root'"),
        ("host-path:srv", "must be an absolute path"),
        ("host-path:/srv/../etc", "'.' or '..'"),
        ("capability:CAP_SYS_ADMIN", "unknown capability"),
        ("capability:ALL", "ALL is --allow capabilities"),
        ("Privileged", "unknown --allow value"),
    ],
)
def test_unknown_allow_values_are_refused(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Policy.parse([value])


def test_describe_lists_what_is_allowed() -> None:
    policy = Policy.parse(["devices", "host-path:/srv", "capability:NET_ADMIN", "devices"])
    assert policy.describe() == ["devices", "host-path:/srv", "capability:NET_ADMIN"]


def test_skiff_validate_takes_the_same_allow_as_the_daemon(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "web.yaml", td_doc("web", containerDefinitions=[container(privileged=True)]))
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "spec.containerDefinitions.0.privileged" in err
    assert "(start it with --allow privileged)" in err
    assert main(["validate", str(tmp_path), "--allow", "privileged"]) == 0
    with pytest.raises(SystemExit) as exc:
        main(["validate", str(tmp_path), "--allow", "everything"])
    assert exc.value.code == 2
    assert "unknown --allow value 'everything'" in capsys.readouterr().err


def test_a_document_refused_by_policy_keeps_the_others_valid(tmp_path: Path) -> None:
    write(
        tmp_path,
        "fleet.yaml",
        document(
            "LaunchTemplate", "app", {"launchTemplateData": {"imageId": "b", "privileged": True}}
        ),
        document("Instance", "one", {"launchTemplate": {"launchTemplateName": "app"}}),
    )
    result = load_directory(str(tmp_path))
    assert [e.field for e in result.errors] == ["spec.launchTemplateData.privileged"]
    assert ("LaunchTemplate", "app") in result.claimed
    assert ("Instance", "one") in result.resources
