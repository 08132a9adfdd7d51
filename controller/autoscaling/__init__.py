"""EC2 Auto Scaling and Application Auto Scaling: groups, scaling policies and scheduled actions."""
