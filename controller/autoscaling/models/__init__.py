"""The Auto Scaling manifest kinds: ScalingPolicy and ScheduledAction."""
