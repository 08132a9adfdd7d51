"""Pure planners, one module per kind: plan(desired, observed, now) -> a typed Plan. No I/O here."""
