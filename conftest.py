"""Top-level pytest configuration: load the harness's plugin for suites, benchmarks and unit tests."""

import os

pytest_plugins = ["harness.plugin"]
if os.environ.get("KHARNESS_GUEST") != "1":
    # The unit tests of the plugin use pytester; guests skip loading it (imports cost 20x under TCG).
    pytest_plugins.append("pytester")
