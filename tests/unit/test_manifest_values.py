"""Values that validated but failed, or vanished, at run time: each is now refused by
`skiff validate` with its file, document and field, as ECS, Auto Scaling or the JSON Schema
would refuse it.
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
from controller.cli import main as cli
from controller.cli.main import main
from controller.manifests.loader import LoadResult
from tests.support.documents import container, document, host_doc, service_doc, td_doc, write


def errors(tmp_path: Path, *docs: dict[str, Any] | str) -> dict[str, str]:
    """{'document:field': message} of every error in one file of these documents."""
    write(tmp_path, "m.yaml", *docs)
    result: LoadResult = load_directory(str(tmp_path))
    return {f"{e.document}:{e.field}": e.message for e in result.errors}


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
    assert list(found) == ["0:spec.containerDefinitions.0.portMappings.1.containerPort"]
    assert (
        "already mapped by portMappings 0"
        in found["0:spec.containerDefinitions.0.portMappings.1.containerPort"]
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
    assert list(found) == [f"0:spec.{field}"], found


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
    assert list(found) == [f"0:spec.{field}"]
    assert fragment in found[f"0:spec.{field}"]


def test_a_fargate_size_refused_says_so_in_aws_words_and_names_the_memory_that_would_do(
    tmp_path: Path,
) -> None:
    found = errors(tmp_path, td_doc("web", cpu=256, memory=4096, **FARGATE))
    assert found == {
        "0:spec.memory": f"{NO_FARGATE_SIZE}: 256 CPU, 4096 memory; "
        "with cpu 256, memory is 512, 1024 or 2048"
    }


def test_a_fargate_cpu_refused_names_the_cpus_fargate_has_and_those_for_the_memory(
    tmp_path: Path,
) -> None:
    found = errors(tmp_path, td_doc("web", cpu=384, memory=1024, **FARGATE))
    assert found == {
        "0:spec.cpu": f"{NO_FARGATE_SIZE}: 384 CPU, 1024 memory; "
        "cpu is one of 256, 512, 1024, 2048, 4096, 8192 or 16384 (with memory 1024: 256 or 512)"
    }


def test_a_fargate_task_definition_without_task_cpu_and_memory_is_refused_on_both(
    tmp_path: Path,
) -> None:
    doc = td_doc("web", containerDefinitions=[container(memory=64)], **FARGATE)
    assert errors(tmp_path, doc) == {
        "0:spec.cpu": "Fargate requires that 'cpu' be defined at the task level",
        "0:spec.memory": "Fargate requires that 'memory' be defined at the task level",
    }


def test_skiff_validate_refuses_a_fargate_task_definition_of_no_fargate_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Alone in its file: no Service with launchType FARGATE needed to find it out.
    write(tmp_path, "web.yaml", td_doc("web", cpu=256, memory=4096, **FARGATE))
    assert main(["validate", str(tmp_path)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"web.yaml: document 0 TaskDefinition/web: spec.memory: {NO_FARGATE_SIZE}: 256 CPU, "
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
    assert list(errors(tmp_path, doc)) == ["0:spec.memory"]


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
    assert list(found) == ["0:spec.launchTemplateData.rootVolume.mountPath"]


@pytest.mark.parametrize("path", ["/data", "/var/lib/app", "/srv/db-1", "/procfs"])
def test_clean_mount_paths_are_fine(tmp_path: Path, path: str) -> None:
    assert errors(tmp_path, template(path)) == {}


# --- as strict as the schema -------------------------------------------------------------------


@pytest.mark.parametrize("count", ["3", 3.0, True])
def test_a_desired_count_that_is_not_an_integer_is_refused(tmp_path: Path, count: Any) -> None:
    found = errors(tmp_path, td_doc("web"), service_doc("web", desiredCount=count))
    assert list(found) == ["1:spec.desiredCount"]


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


# --- counts ------------------------------------------------------------------------------------


def test_a_service_runs_at_most_5000_tasks(tmp_path: Path) -> None:
    assert errors(tmp_path, td_doc("web"), service_doc("web", desiredCount=5000)) == {}
    found = errors(
        tmp_path,
        td_doc("web"),
        service_doc("web", desiredCount=5001, autoScaling={"minCapacity": 0, "maxCapacity": 5001}),
    )
    assert set(found) == {"1:spec.desiredCount", "1:spec.autoScaling.maxCapacity"}


def group(**sizes: int) -> dict[str, Any]:
    spec = {"launchTemplate": {"launchTemplateName": "base"}, "availabilityZones": ["local"]}
    return document("AutoScalingGroup", "workers", {**spec, **sizes})


def test_an_auto_scaling_group_holds_at_most_5000_instances(tmp_path: Path) -> None:
    base = document("LaunchTemplate", "base", {"launchTemplateData": {"imageId": "busybox"}})
    assert errors(tmp_path, base, group(minSize=0, maxSize=5000)) == {}
    found = errors(tmp_path, base, group(minSize=0, maxSize=5001, desiredCapacity=5001))
    assert set(found) == {"1:spec.maxSize", "1:spec.desiredCapacity"}


def test_a_scheduled_action_sets_no_size_its_target_cannot_hold(tmp_path: Path) -> None:
    action = document(
        "ScheduledAction",
        "big",
        {"target": {"service": "web"}, "recurrence": "0 8 * * *", "maxSize": 5001},
    )
    found = errors(tmp_path, td_doc("web"), service_doc("web"), action)
    assert list(found) == ["2:spec.maxSize"]


# --- URLs -------------------------------------------------------------------------------------


def alarm(url: str) -> dict[str, Any]:
    metric = {"prometheusQuery": "sum(up)", "prometheusUrl": url}
    spec = {"metric": metric, "threshold": 1, "comparisonOperator": "LessThanThreshold"}
    return document("Alarm", "up", spec)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://prom.lan",
        "http://",
        "HTTP://prom.lan:9090",
        " http://prom.lan",
        "http://prom.lan:99999",
        "http://user:secret@prom.lan",
        "http://prom.lan/?x=1",
        "http://prom;lan",
    ],
)
def test_a_prometheus_url_is_http_or_https_with_a_host(tmp_path: Path, url: str) -> None:
    assert list(errors(tmp_path, alarm(url))) == ["0:spec.metric.prometheusUrl"]


@pytest.mark.parametrize("url", ["http://127.0.0.1:9090", "https://prom.lan/prometheus"])
def test_prometheus_urls_that_work_are_fine(tmp_path: Path, url: str) -> None:
    assert errors(tmp_path, alarm(url)) == {}


@pytest.fixture
def no_daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    """`skiff run` stops after reading its flags: no daemon starts."""
    monkeypatch.setattr(cli, "_run", lambda args: 0)


@pytest.mark.usefixtures("no_daemon")
def test_the_daemon_refuses_a_prometheus_url_flag_it_could_not_use(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--manifests", ".", "--prometheus-url", "file:///etc/passwd"])
    assert exit_.value.code == 2
    assert "--prometheus-url" in capsys.readouterr().err


@pytest.mark.usefixtures("no_daemon")
def test_the_daemon_refuses_a_listener_address_haproxy_would_misread(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--manifests", ".", "--lb-address", "127.0.0.1\nglobal"])
    assert "--lb-address" in capsys.readouterr().err


@pytest.mark.parametrize(
    "url",
    [
        "TCP://10.0.0.5:2376",
        " tcp://10.0.0.5:2376",
        "t\tcp://10.0.0.5:2376",
        "tcp://10.0.0.5:2376\n",
        "unix:relative.sock",
        "unix:/var/run/docker.sock",
        "unix:",
        "unix://",
        "unix://var/run/docker.sock",
        "tcp://10.0.0.5:99999",
        "tcp://docker;1:2376",
        "tcp://user@10.0.0.5:2376",
        "ssh://me@host/path",
        "npipe:////./pipe/docker_engine",
    ],
)
def test_a_host_url_docker_would_read_otherwise_is_refused(tmp_path: Path, url: str) -> None:
    assert list(errors(tmp_path, host_doc("h1", url=url))) == ["0:spec.url"]


@pytest.mark.parametrize(
    "url",
    [
        "unix:///var/run/docker.sock",
        "tcp://10.0.0.5:2376",
        "tcp://[fd00::5]:2376",
        "ssh://me@docker-1.lan",
        "https://docker.lan:2376",
    ],
)
def test_host_urls_docker_reads_are_fine(tmp_path: Path, url: str) -> None:
    assert errors(tmp_path, host_doc("h1", url=url)) == {}


@pytest.mark.parametrize(
    ("tls", "field"),
    [
        ({"caCert": "certs/ca.pem"}, "spec.tls.caCert"),
        ({"caCert": "/etc/ca.pem\n"}, "spec.tls.caCert"),
        ({"clientCert": "/etc/cert.pem"}, "spec.tls"),
        ({"clientKey": "/etc/key.pem"}, "spec.tls"),
    ],
)
def test_tls_paths_are_absolute_and_a_certificate_needs_its_key(
    tmp_path: Path, tls: dict[str, str], field: str
) -> None:
    found = errors(tmp_path, host_doc("h1", url="tcp://10.0.0.5:2376", tls=tls))
    assert list(found) == [f"0:{field}"]


@pytest.mark.parametrize("address", ["10.0.0.5", "fd00::5", "[fd00::5]", "docker-1.lan"])
def test_a_host_address_is_an_ip_or_a_host_name(tmp_path: Path, address: str) -> None:
    assert errors(tmp_path, host_doc("h1", address=address)) == {}
