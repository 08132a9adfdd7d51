"""What tests and benchmarks share: the whole-controller harness on the fake runtime, builders of
manifests and of observed state, the real-daemon runner and the extra-engine pool.

Nothing here is a test and nothing here asserts behaviour; it must not import from a test module.
"""
