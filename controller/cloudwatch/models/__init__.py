"""The CloudWatch manifest kinds: Alarm."""
