"""ECS's syncs: a task definition's revisions and a service's tasks, from plan to Docker through the
executor.
"""
