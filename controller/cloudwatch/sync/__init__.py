"""CloudWatch's collection: every period's samples from the pool, and queries to a Prometheus
server.
"""
