"""The ELB manifest kinds: TargetGroup and LoadBalancer."""
