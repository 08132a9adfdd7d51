"""What a Batch job definition's containers ask of the host beyond the baseline, for the
daemon's `--allow` policy to grant or refuse."""

from __future__ import annotations

from controller.batch.models.batch import ContainerProperties, JobDefinitionSpec
from controller.manifests.base import Path
from controller.manifests.policy import Need, container_needs, volume_needs


def _container(c: ContainerProperties, at: Path) -> list[Need]:
    return volume_needs(c.volumes, (*at, "volumes")) + container_needs(
        c.privileged, c.linux_parameters, at
    )


def job_definition_needs(spec: JobDefinitionSpec) -> list[Need]:
    if spec.container_properties is not None:
        return _container(spec.container_properties, ("containerProperties",))
    needs: list[Need] = []
    ranges = spec.node_properties.node_range_properties if spec.node_properties else []
    for k, r in enumerate(ranges):
        needs += _container(r.container, ("nodeProperties", "nodeRangeProperties", k, "container"))
    return needs
