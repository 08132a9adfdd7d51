"""EC2's syncs: launch templates, instances, and the fleet executor that groups share."""
