"""ELB's sync: one pass over the data plane for every load balancer, and the target health it
reports.
"""
