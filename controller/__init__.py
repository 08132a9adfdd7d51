"""Skiff: a reconcile-loop daemon that runs AWS-style compute on Docker hosts."""

__version__ = "0.1.0"
