"""Amazon EC2: LaunchTemplate and Instance, an instance being one long-running container."""
