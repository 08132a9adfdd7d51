"""Batch's pure planners: job records and their state rules, the scheduler, SubmitJob's checks."""
