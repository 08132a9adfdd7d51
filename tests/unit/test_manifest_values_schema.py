"""Manifest values as strict as the JSON Schema: each kind refuses what its schema refuses, lax
numbers included, and `skiff validate` names the file, document and field.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from controller.autoscaling.models.scaling import ScheduledActionSpec
from controller.catalog import KINDS, json_schema, load_directory
from tests.support.documents import document, service_doc, td_doc, write
from tests.unit.manifest_values_support import errors

# --- as strict as the schema -------------------------------------------------------------------


@pytest.mark.parametrize("count", ["3", 3.0, True])
def test_a_desired_count_that_is_not_an_integer_is_refused(tmp_path: Path, count: Any) -> None:
    found = errors(tmp_path, td_doc("web"), service_doc("web", desiredCount=count))
    assert list(found) == ["2:spec.desiredCount"]


def test_a_number_takes_an_integer(tmp_path: Path) -> None:
    policy = document(
        "ScalingPolicy",
        "cpu",
        {
            "target": {"service": "web"},
            "policyType": "TargetTrackingScaling",
            "targetTrackingConfiguration": {
                "predefinedMetric": "ECSServiceAverageCPUUtilization",
                "targetValue": 50,
            },
        },
    )
    scaled = service_doc("web", autoScaling={"minCapacity": 1, "maxCapacity": 4})
    assert errors(tmp_path, td_doc("web"), scaled, policy) == {}


def test_an_unquoted_yaml_timestamp_is_a_start_time(tmp_path: Path) -> None:
    text = (
        "apiVersion: skiff/v1\nkind: ScheduledAction\nmetadata: {name: night}\nspec:\n"
        "  target: {autoScalingGroup: workers}\n  startTime: 2030-06-01T08:00:00Z\n"
        "  desiredCapacity: 0\n"
    )
    raw = yaml.safe_load(text)["spec"]
    assert isinstance(raw["startTime"], datetime)  # what YAML makes of it

    assert ScheduledActionSpec.model_validate(raw).start_time == "2030-06-01T08:00:00+00:00"
    write(tmp_path, "m.yaml", text)
    fields = [e.field for e in load_directory(str(tmp_path)).errors]
    assert fields == ["spec.target.autoScalingGroup"]  # only the group it names is missing


# Samples of every kind, valid as written; their wire form (every field, defaults included)
# is where lax values are put.
SAMPLES: dict[str, dict[str, Any]] = {
    "Host": {"url": "tcp://10.0.0.5:2376", "capacity": {"cpu": 2048, "memory": 4096}},
    "TaskDefinition": {
        "cpu": 256,
        "memory": 512,
        "containerDefinitions": [
            {
                "name": "app",
                "image": "busybox",
                "cpu": 128,
                "memory": 64,
                "portMappings": [{"containerPort": 80, "hostPort": 8080}],
                "healthCheck": {"command": ["CMD", "true"]},
                "stopTimeout": 10,
            }
        ],
    },
    "Service": {"taskDefinition": "web", "autoScaling": {"minCapacity": 1, "maxCapacity": 4}},
    "TargetGroup": {},
    "LoadBalancer": {
        "listeners": [
            {
                "port": 8080,
                "defaultActions": [{"type": "forward", "targetGroup": "web"}],
                "rules": [
                    {
                        "priority": 1,
                        "conditions": [{"field": "path-pattern", "values": ["/a"]}],
                        "actions": [
                            {
                                "type": "forward",
                                "forwardConfig": {"targetGroups": [{"targetGroup": "web"}]},
                            }
                        ],
                    }
                ],
            }
        ]
    },
    "LaunchTemplate": {
        "launchTemplateData": {
            "imageId": "busybox",
            "instanceType": "custom",
            "customInstanceType": {"vCpus": 1.5, "memoryMiB": 512},
            "ports": [80],
        },
        "defaultVersion": 1,
    },
    "Instance": {"launchTemplate": {"launchTemplateName": "base"}},
    "AutoScalingGroup": {
        "launchTemplate": {"launchTemplateName": "base"},
        "minSize": 1,
        "maxSize": 3,
        "desiredCapacity": 2,
        "availabilityZones": ["local"],
        "targetGroups": [{"targetGroup": "web", "port": 80}],
    },
    "ScalingPolicy": {
        "target": {"autoScalingGroup": "workers"},
        "policyType": "StepScaling",
        "stepScalingConfiguration": {
            "stepAdjustments": [{"metricIntervalLowerBound": 0, "scalingAdjustment": 1}],
        },
    },
    "Alarm": {
        "metric": {"metricName": "CPUUtilization", "autoScalingGroup": "workers"},
        "threshold": 80,
        "comparisonOperator": "GreaterThanThreshold",
        "alarmActions": [{"scalingPolicy": "up"}],
    },
    "ScheduledAction": {
        "target": {"autoScalingGroup": "workers"},
        "recurrence": "0 8 * * *",
        "minSize": 1,
    },
    "ComputeEnvironment": {"maxvCpus": 4},
    "JobQueue": {
        "priority": 1,
        "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": "ce"}],
    },
    "JobDefinition": {
        "containerProperties": {"image": "busybox", "vcpus": 1, "memory": 128},
        "retryStrategy": {"attempts": 2},
        "timeout": {"attemptDurationSeconds": 60},
    },
}

# Fields whose schema itself also takes a string ("0.5 vCPU", "2 GB").
TEXT_TOO = {("TaskDefinition", ("cpu",)), ("TaskDefinition", ("memory",))}


def leaves(tree: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    if isinstance(tree, dict):
        return [leaf for k, v in tree.items() for leaf in leaves(v, (*path, k))]
    if isinstance(tree, list):
        return [leaf for i, v in enumerate(tree) for leaf in leaves(v, (*path, i))]
    return [(path, tree)]


def replaced(tree: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    if isinstance(tree, list):
        return [replaced(v, path[1:], value) if i == path[0] else v for i, v in enumerate(tree)]
    return {k: replaced(v, path[1:], value) if k == path[0] else v for k, v in tree.items()}


def lax(value: Any) -> list[Any]:
    """What a lax parser would take for `value`, though the schema's type says otherwise."""
    if isinstance(value, bool):
        return ["true", 1]
    if isinstance(value, int):
        return [str(value), float(value), True]
    if isinstance(value, float):
        return [str(value), True]
    return []


def test_every_kind_refuses_what_its_json_schema_refuses_and_lax_numbers_too() -> None:
    validator = jsonschema.Draft202012Validator(json_schema())
    checked = 0
    for kind, sample in SAMPLES.items():
        spec_model = KINDS[kind].spec
        wire = spec_model.model_validate(sample).to_wire()
        assert validator.is_valid(document(kind, "x", wire)), kind
        for path, value in leaves(wire):
            for bad in lax(value):
                spec = replaced(wire, path, bad)
                schema_ok = validator.is_valid(document(kind, "x", spec))
                try:
                    spec_model.model_validate(spec)
                    model_ok = True
                except ValueError:
                    model_ok = False
                where = (kind, path, bad)
                if (kind, path) in TEXT_TOO and isinstance(bad, str):
                    assert schema_ok and model_ok, where  # "512" is CPU units as text
                    continue
                # JSON Schema's integer is a value (3.0 is one); the model wants it written 3.
                assert schema_ok == (isinstance(bad, float) and isinstance(value, int)), where
                assert not model_ok, where
                checked += 1
            if isinstance(value, float) and not isinstance(value, bool):
                whole = replaced(wire, path, int(value))  # a number takes an integer
                assert validator.is_valid(document(kind, "x", whole)), (kind, path)
                spec_model.model_validate(whole)
    assert checked > 100
