"""What an ECS task definition asks of the host beyond the baseline (host network, PID and IPC
namespaces, host paths, privileged containers, capabilities, devices), for the daemon's
`--allow` policy to grant or refuse."""

from __future__ import annotations

from controller.ecs.models.task_definition import TaskDefinitionSpec
from controller.manifests.policy import Need, container_needs, volume_needs


def task_definition_needs(spec: TaskDefinitionSpec) -> list[Need]:
    needs = []
    if spec.network_mode == "host":
        needs.append(Need("host-network", ("networkMode",), "networkMode host is"))
    if spec.pid_mode == "host":
        needs.append(Need("host-pid", ("pidMode",), "pidMode host is"))
    if spec.ipc_mode == "host":
        needs.append(Need("host-ipc", ("ipcMode",), "ipcMode host is"))
    needs += volume_needs(spec.volumes, ("volumes",))
    for i, c in enumerate(spec.container_definitions):
        needs += container_needs(c.privileged, c.linux_parameters, ("containerDefinitions", i))
    return needs
