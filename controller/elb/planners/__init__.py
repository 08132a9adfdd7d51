"""ELB's pure planners: the data plane's configuration and each target group's target changes."""
