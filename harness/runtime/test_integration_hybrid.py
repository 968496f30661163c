"""The runtime on a host without cgroup v2 alone (a v1/v2 hybrid, like this project's development machine): what
needs a cgroup fails clearly. Not packed into the guests' run, whose cgroup v2 is pure: there they could only skip."""

from __future__ import annotations

import pytest

from harness.runtime import api
from harness.runtime.cgroups import unified_root

from .test_integration import run_container, runtime


@pytest.mark.skipif(unified_root() is not None, reason="this host runs cgroup v2 alone: limits apply here "
                                                      "(test_cgroups_guest.py tests them)")
def test_limits_without_cgroup_v2_controllers_fail_clearly(make_bundle, state_root):
    """A memory limit on a host without cgroup v2 alone fails with `error:` naming linux.resources.memory."""
    def with_memory_limit(config):
        config["linux"]["resources"]["memory"] = {"limit": 64 << 20}
    result = run_container(make_bundle, state_root, ["/bin/true"], with_memory_limit)
    assert result.returncode == 1 and result.stderr.startswith("error: linux.resources.memory: ")
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(unified_root() is not None, reason="this host gives containers cgroups: pause works here "
                                                      "(test_cgroups_guest.py tests it)")
def test_pause_without_a_cgroup_fails_clearly(make_bundle, state_root):
    """On a host without cgroup v2 alone a container has no cgroup to freeze: `pause` and `stats` say so."""
    api.create(make_bundle(["sleep", "30"]), "unpausable", root=state_root)
    for verb in ("pause", "stats"):
        result = runtime(verb, "unpausable", root=state_root)
        assert result.returncode == 1 and "has no cgroup" in result.stderr, (verb, result.stderr)
