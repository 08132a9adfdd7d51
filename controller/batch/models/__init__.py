"""The Batch manifest kinds: ComputeEnvironment, JobQueue and JobDefinition."""
