"""Observed state: what Docker reports, as frozen values, and the labels that carry ownership."""
