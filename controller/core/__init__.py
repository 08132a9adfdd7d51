"""The reconcile machinery every kind uses: work queue, expectations, the host pool and its
observers, the executor (the one writer to Docker), the kind registry, status and the event
history; and (`instances/`) the instance machinery EC2 and Auto Scaling share.
"""
