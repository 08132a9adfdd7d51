"""The manifest policy the container security tests load with: every privileged setting allowed,
so what they check is the field rules themselves.
"""

from __future__ import annotations

from controller.manifests.policy import Policy

EVERYTHING = Policy.parse(
    ["privileged", "host-network", "host-pid", "host-ipc", "host-path", "devices", "capabilities"]
)
