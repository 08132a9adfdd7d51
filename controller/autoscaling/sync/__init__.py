"""Auto Scaling's syncs: groups, the capacity the API may set, and the pass that runs policies and
schedules.
"""
