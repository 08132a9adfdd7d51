"""The ECS manifest kinds: TaskDefinition and Service."""
