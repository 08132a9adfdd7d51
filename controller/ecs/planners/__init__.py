"""ECS's pure planners: task definitions' revisions, task state, a service's deployments and
rollout.
"""
