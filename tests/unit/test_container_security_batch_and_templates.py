"""The container settings of ECS task definitions as their Batch job definition and launch template
counterparts take them (they share the models), and hostile values through the loader, each
refused naming file, document and field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from controller.batch.models.batch import JobDefinitionSpec, check_job_definition
from controller.catalog import load_directory
from controller.ec2.models.ec2 import LaunchTemplateSpec, check_launch_template
from controller.manifests.loader import pydantic_errors
from tests.support.documents import container, td_doc, write
from tests.unit.container_security_support import EVERYTHING


# --- Batch and launch templates share the models ------------------------------------------------
def job(**container_fields: Any) -> dict[str, Any]:
    return {"containerProperties": {"image": "busybox", "memory": 64, **container_fields}}


def job_problems(spec: dict[str, Any]) -> dict[str, str]:
    try:
        model = JobDefinitionSpec.model_validate(spec)
    except ValidationError as exc:
        return {".".join(map(str, p)): m for p, m in pydantic_errors(exc)}
    return {".".join(map(str, p)): m for p, m in check_job_definition(model)}


def test_batch_container_properties_take_aws_batch_s_fields() -> None:
    spec = job(
        privileged=False,
        user="nobody",
        readonlyRootFilesystem=True,
        ulimits=[{"name": "nproc", "softLimit": 10, "hardLimit": 20}],
        volumes=[{"name": "scratch"}, {"name": "in", "host": {"sourcePath": "/srv/in"}}],
        mountPoints=[
            {"sourceVolume": "scratch", "containerPath": "/scratch"},
            {"sourceVolume": "in", "containerPath": "/in", "readOnly": True},
        ],
        linuxParameters={
            "initProcessEnabled": True,
            "sharedMemorySize": 64,
            "tmpfs": [{"containerPath": "/tmp", "size": 8}],
            "devices": [{"hostPath": "/dev/fuse"}],
        },
    )
    assert job_problems(spec) == {}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"user": "a\nb"}, "containerProperties.user"),
        (
            {"ulimits": [{"name": "nofile", "softLimit": 9, "hardLimit": 1}]},
            "containerProperties.ulimits.0.softLimit",
        ),
        (
            {"volumes": [{"name": "v", "host": {"sourcePath": "srv"}}]},
            "containerProperties.volumes.0.host.sourcePath",
        ),
        (
            {"mountPoints": [{"sourceVolume": "v", "containerPath": "/v"}]},
            "containerProperties.mountPoints.0.sourceVolume",
        ),
        (
            {"linuxParameters": {"capabilities": {"add": ["SYS_ADMIN"]}}},
            "containerProperties.linuxParameters.capabilities",
        ),
        (
            {"volumes": [{"name": "v", "dockerVolumeConfiguration": {}}]},
            "containerProperties.volumes.0.dockerVolumeConfiguration",
        ),
    ],
)
def test_bad_batch_fields_are_refused_by_field(fields: dict[str, Any], field: str) -> None:
    assert list(job_problems(job(**fields))) == [field]


def template_problems(data: dict[str, Any]) -> dict[str, str]:
    spec = {"launchTemplateData": {"imageId": "busybox", **data}}
    try:
        model = LaunchTemplateSpec.model_validate(spec)
    except ValidationError as exc:
        return {".".join(map(str, p)): m for p, m in pydantic_errors(exc)}
    return {".".join(map(str, p)): m for p, m in check_launch_template(model)}


def test_launch_templates_take_privileged_and_linux_parameters() -> None:
    data = {
        "privileged": True,
        "linuxParameters": {
            "capabilities": {"add": ["NET_ADMIN"]},
            "initProcessEnabled": True,
            "tmpfs": [{"containerPath": "/run", "size": 16}],
        },
    }
    assert template_problems(data) == {}
    found = template_problems(
        {"linuxParameters": {"tmpfs": [{"containerPath": "/data", "size": 1}]}}
    )
    assert found == {
        "launchTemplateData.linuxParameters.tmpfs.0.containerPath": "/data is also the root "
        "volume's mount"
    }
    bad = template_problems({"linuxParameters": {"devices": [{"hostPath": "/dev/../etc"}]}})
    assert list(bad) == ["launchTemplateData.linuxParameters.devices.0.hostPath"]


def test_hostile_values_through_the_loader_name_file_document_and_field(tmp_path: Path) -> None:
    write(
        tmp_path,
        "web.yaml",
        td_doc(
            "web",
            containerDefinitions=[
                container(user="root;reboot", extraHosts=[{"hostname": "x", "ipAddress": "1.2.3"}])
            ],
        ),
    )
    result = load_directory(str(tmp_path), EVERYTHING)
    assert sorted(str(e) for e in result.errors) == [
        "web.yaml:10:11: document 1 TaskDefinition/web: spec.containerDefinitions.0.user: "
        "'root;reboot' is not a user: use user, user:group, uid, uid:gid, user:gid or "
        "uid:group (names of letters, digits, '_', '.', '-', starting with a letter or '_')",
        "web.yaml:13:18: document 1 TaskDefinition/web: spec.containerDefinitions.0.extraHosts.0."
        "ipAddress: '1.2.3' is not an IPv4 or IPv6 address",
    ]
