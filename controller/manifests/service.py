"""The `Service` kind: keep `desiredCount` copies of a task definition running, as ECS does."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from controller.manifests.base import SpecModel

TASK_DEFINITION_REF = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}(:[1-9][0-9]*)?$"


class ServiceSpec(SpecModel):
    task_definition: str = Field(
        pattern=TASK_DEFINITION_REF,
        description="A family (its latest ACTIVE revision) or family:revision.",
    )
    desired_count: int = Field(1, ge=0)
    launch_type: Literal["EC2", "FARGATE", "EXTERNAL"] = "EC2"
    health_check_grace_period_seconds: int = Field(0, ge=0, le=2_147_483_647)
    scale_in_order: Literal["NEWEST_FIRST", "OLDEST_FIRST"] = Field(
        "NEWEST_FIRST", description="Which tasks a scale-in stops first."
    )

    @property
    def family(self) -> str:
        return self.task_definition.split(":", 1)[0]

    @property
    def pinned_revision(self) -> int | None:
        _, _, rev = self.task_definition.partition(":")
        return int(rev) if rev else None
