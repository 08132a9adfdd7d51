"""The Auto Scaling manifest kinds: ScalingPolicy, ScheduledAction (and Alarm, which they answer
to).
"""
