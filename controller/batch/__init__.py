"""AWS Batch: ComputeEnvironment, JobQueue and JobDefinition, and the jobs submitted to them."""
