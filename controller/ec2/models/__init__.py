"""The EC2 manifest kinds: LaunchTemplate, Instance (and the AutoScalingGroup's instance
settings)."""
