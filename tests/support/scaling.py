"""The scenario the Auto Scaling integration test and benchmark share: a group of web
instances whose CGI burns CPU for a moment, behind a target group, scaled by target tracking
on the group's average CPU."""

from __future__ import annotations

from typing import Any

from tests.support.documents import (
    IMAGE,
    asg_doc,
    health_check,
    launch_template_doc,
    scaling_policy_doc,
    target_group_doc,
)

BURN = """\
#!/bin/sh
mkdir -p /www/cgi-bin
echo ok > /www/health
cat > /www/cgi-bin/burn <<'EOF'
#!/bin/sh
i=0
while [ $i -lt 4000 ]; do i=$((i+1)); done
printf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' "$(hostname)"
EOF
chmod +x /www/cgi-bin/burn
"""
HTTPD = "httpd -f -p 8080 -h /www & trap 'exit 0' TERM; wait"


def cpu_tracked_group(name: str, maximum: int, image: str = IMAGE) -> list[dict[str, Any]]:
    """Launch template, target group, group (1 to `maximum`) and its CPU policy, all `name`."""
    return [
        launch_template_doc(
            name,
            imageId=image,
            instanceType="custom",
            customInstanceType={"vCpus": 0.1, "memoryMiB": 64},
            rootVolume={"type": "instance-store"},
            userData=BURN,
            command=["sh", "-c", HTTPD],
            ports=[8080],
        ),
        target_group_doc(name, healthCheck=health_check(), deregistrationDelay=1),
        asg_doc(
            name,
            launchTemplate={"launchTemplateName": name},
            minSize=1,
            maxSize=maximum,
            desiredCapacity=1,
            availabilityZones=["local"],
            targetGroups=[{"targetGroup": name, "port": 8080}],
        ),
        scaling_policy_doc(
            f"{name}-cpu",
            {"autoScalingGroup": name},
            policyType="TargetTrackingScaling",
            targetTrackingConfiguration={
                "predefinedMetric": "ASGAverageCPUUtilization",
                "targetValue": 50,
                "estimatedInstanceWarmup": 5,
            },
        ),
    ]
