"""Benchmark results: load, store, A/B compare and report pytest-benchmark JSON from harness runs."""
