"""EC2's syncs: launch templates' versions and single instances (the fleet executor they
share with Auto Scaling groups is core/instances/fleet.py)."""
