"""A reference to a launch template version, shared by the kinds that launch from one: an EC2
`Instance` and an Auto Scaling group. Both services use it, so it lives here, where each may
import it without importing the other.
"""

from __future__ import annotations

from pydantic import Field

from controller.manifests.base import SpecModel


class TemplateRef(SpecModel):
    launch_template_name: str
    """The name of the launch template."""
    version: str = Field("$Default", pattern=r"^(\$Latest|\$Default|[1-9][0-9]*)$")
    """The launch template version: a number, $Latest or $Default."""
