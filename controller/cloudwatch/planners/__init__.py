"""CloudWatch's pure parts: utilization arithmetic from container stats, and alarm evaluation."""
