"""Primitives for collecting metrics: usage figures from container stats, an in-memory history
of samples per series, and instant queries against a Prometheus server.

The collectors and alarm evaluation that use them live in the engine; nothing here talks to
Docker (stats come through `controller.runtime`) or keeps a clock of its own.
"""

from controller.monitoring.prometheus import MetricUnavailable, query
from controller.monitoring.series import MetricHistory
from controller.monitoring.usage import cpu_percent, memory_percent

__all__ = ["MetricHistory", "MetricUnavailable", "cpu_percent", "memory_percent", "query"]
