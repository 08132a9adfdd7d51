"""EC2's pure planners: one Instance resource (the instance vocabulary is core/instances/)."""
