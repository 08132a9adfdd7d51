"""Batch's syncs: job definitions' revisions, the scheduling pass, job containers and the commands
the API takes.
"""
