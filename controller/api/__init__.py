"""The daemon's HTTP API: health, readiness, Prometheus metrics and status as JSON."""
