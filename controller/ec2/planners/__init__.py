"""EC2's pure planners: launch template versions, an instance's state, one Instance resource."""
