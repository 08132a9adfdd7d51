"""The Auto Scaling manifest kinds: AutoScalingGroup, ScalingPolicy and ScheduledAction."""
