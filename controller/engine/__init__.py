"""The reconcile loop: sources put keys on a work queue, workers plan and execute per key."""
