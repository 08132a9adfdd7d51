"""Amazon ECS: TaskDefinition and Service, as models (manifests), pure planners (placement,
deployments, task state) and syncs.
"""
