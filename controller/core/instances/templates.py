"""Which launch template version a reference selects, for a launch: the one lookup EC2's
instances and Auto Scaling groups share. Reads the manifests and the store's versions; adds no
version (EC2's LaunchTemplate sync does) and writes nothing but its queue key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.core.instances.versions import ResolvedTemplate, needs_version, resolve_version
from controller.core.outcomes import Terminal, Waiting
from controller.manifests.templates import TemplateRef

if TYPE_CHECKING:
    from controller.core.context import Context


def template_for(ctl: Context, ref: TemplateRef) -> ResolvedTemplate:
    """The version `ref` selects; Waiting while the template's new version is not added yet,
    Terminal when it selects none."""
    name = ref.launch_template_name
    res = ctl.desired.get(("LaunchTemplate", name))
    if res is None:
        raise Terminal(f"launchTemplate.launchTemplateName: launch template {name} does not exist")
    versions = ctl.store.template_versions(name)
    if needs_version(res.spec, versions) and ref.version in ("$Latest", "$Default"):
        ctl.queue.add(("LaunchTemplate", name))
        raise Waiting(f"waiting for launch template {name} to add its new version")
    found = resolve_version(name, ref.version, res.spec, versions)
    if isinstance(found, str):
        raise Terminal(found)
    return found
