"""Top-level pytest configuration: load the harness's plugin for suites, benchmarks and unit tests."""

pytest_plugins = ["harness.plugin"]
