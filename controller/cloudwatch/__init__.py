"""Amazon CloudWatch: the metrics Skiff measures, their history, and alarm evaluation."""
