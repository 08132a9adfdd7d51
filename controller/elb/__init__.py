"""Elastic Load Balancing: TargetGroup and LoadBalancer, planned into a data plane's configuration
and targets.
"""
