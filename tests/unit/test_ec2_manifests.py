"""LaunchTemplate, Instance and AutoScalingGroup manifests, checked as EC2 checks them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controller.catalog import load_directory
from controller.manifests.launch_template_data import LaunchTemplateData
from tests.support.documents import document, host_doc, write


def template(name: str = "web", **data: Any) -> dict[str, Any]:
    data.setdefault("imageId", "skiff/busybox:latest")
    return document("LaunchTemplate", name, {"launchTemplateData": data})


def group(name: str = "web", **spec: Any) -> dict[str, Any]:
    spec.setdefault("launchTemplate", {"launchTemplateName": "web"})
    spec.setdefault("minSize", 1)
    spec.setdefault("maxSize", 4)
    spec.setdefault("availabilityZones", ["local"])
    return document("AutoScalingGroup", name, spec)


def errors(tmp_path: Path, *docs: dict[str, Any]) -> dict[str, str]:
    write(tmp_path, "fleet.yaml", *docs)
    return {f"{e.document}:{e.field}": e.message for e in load_directory(str(tmp_path)).errors}


def test_a_template_and_a_group_across_two_zones_are_valid(tmp_path: Path) -> None:
    assert (
        errors(
            tmp_path,
            host_doc("a", zone="zone-a"),
            host_doc("b", zone="zone-b", url="tcp://b:2376"),
            template(instanceType="m5.large"),
            group(availabilityZones=["zone-a", "zone-b"], desiredCapacity=2),
        )
        == {}
    )


@pytest.mark.parametrize(
    ("kind", "vcpus", "memory"),
    [("t3.micro", 2, 1024), ("m5.large", 2, 8192), ("c5.large", 2, 4096), ("r5.large", 2, 16384)],
)
def test_instance_types_have_their_aws_sizes(kind: str, vcpus: int, memory: int) -> None:
    assert LaunchTemplateData(image_id="i", instance_type=kind).resources() == (vcpus, memory)


def test_a_custom_instance_type(tmp_path: Path) -> None:
    data = LaunchTemplateData.model_validate(
        {
            "imageId": "i",
            "instanceType": "custom",
            "customInstanceType": {"vCpus": 0.5, "memoryMiB": 256},
        }
    )
    assert data.resources() == (0.5, 256)


@pytest.mark.parametrize(
    ("docs", "where", "message"),
    [
        (
            [template(instanceType="t9.huge")],
            "1:spec.launchTemplateData",
            "unknown instanceType 't9.huge'",
        ),
        (
            [template(userData="x" * 16385)],
            "1:spec.launchTemplateData.userData",
            "16385 bytes; EC2 allows at most 16384",
        ),
        (
            [template(), group(minSize=3, maxSize=2)],
            "2:spec.minSize",
            "minSize 3 is greater than maxSize 2",
        ),
        (
            [template(), group(desiredCapacity=9)],
            "2:spec.desiredCapacity",
            "desiredCapacity 9 is outside [1, 4]",
        ),
        (
            [template(), group(availabilityZones=["zone-z"])],
            "2:spec.availabilityZones.0",
            "no Host is in zone 'zone-z'",
        ),
        ([group()], "1:spec.launchTemplate.launchTemplateName", "no LaunchTemplate named 'web'"),
        (
            [template(), group(terminationPolicies=["Newest"])],
            "2:spec.terminationPolicies",
            "unknown termination policy 'Newest'",
        ),
        (
            [template(), group(suspendedProcesses=["Nap"])],
            "2:spec.suspendedProcesses",
            "unknown process 'Nap'",
        ),
        (
            [template(), group(launchTemplate={"launchTemplateName": "web", "version": "latest"})],
            "2:spec.launchTemplate.version",
            "should match pattern",
        ),
        (
            [template(), group(targetGroups=[{"targetGroup": "tg", "port": 80}])],
            "2:spec.targetGroups.0.targetGroup",
            "no TargetGroup named 'tg'",
        ),
    ],
    ids=[
        "instance-type",
        "user-data",
        "min-max",
        "desired",
        "zone",
        "template",
        "policy",
        "process",
        "version",
        "target-group",
    ],
)
def test_bad_input_names_the_field_and_the_limit(
    tmp_path: Path, docs: list[Any], where: str, message: str
) -> None:
    found = errors(tmp_path, *docs)
    assert message in found[where], found


def test_an_instance_takes_a_template_or_inline_settings_not_both(tmp_path: Path) -> None:
    both = document(
        "Instance",
        "i",
        {"launchTemplate": {"launchTemplateName": "web"}, "launchTemplateData": {"imageId": "x"}},
    )
    found = errors(tmp_path, template(), both)
    assert "give either launchTemplate or launchTemplateData" in found["2:spec"]
