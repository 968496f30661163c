"""cpu and cpuset controllers: cpu.max caps a busy loop (nr_throttled grows), cpu.weight shares a CPU
in proportion, cpuset.cpus confines where a process may run."""

from __future__ import annotations

import time

import pytest

from harness.containers import wait_for

from .cgroup_support import cpus, limited, read_keyed

BUSY = ["sh", "-c", "echo busy; while :; do :; done"]


def usage_over(cgroup, seconds: float) -> tuple[float, float]:
    """(CPU seconds used, wall seconds) by a cgroup over an interval measured here."""
    start_usage = read_keyed(cgroup / "cpu.stat")["usage_usec"]
    start = time.monotonic()
    wait_for(lambda: time.monotonic() - start >= seconds, seconds + 5, interval=0.1, what="the interval")
    return (read_keyed(cgroup / "cpu.stat")["usage_usec"] - start_usage) / 1e6, time.monotonic() - start


def test_cpu_max_caps_a_busy_loop(container, cgroup_parent):
    """cpu.max 20000/100000 holds a busy loop near 20% of one CPU and throttles it (nr_throttled grows)."""
    path = cgroup_parent.cgroups_path()
    running = container.start(config=limited(container.config(BUSY), path,
                                             cpu={"quota": 20000, "period": 100000}))
    running.wait_output("busy")
    cgroup = cgroup_parent.child(path)
    assert (cgroup / "cpu.max").read_text().split() == ["20000", "100000"]
    used, wall = usage_over(cgroup, 3.0)
    share = used / wall
    # Generous bounds: the quota is enforced per period, and TCG's clock is emulated.
    assert 0.05 < share < 0.35, f"busy loop got {share:.0%} of a CPU under a 20% quota"
    assert read_keyed(cgroup / "cpu.stat")["nr_throttled"] > 0


def test_cpu_weight_shares_one_cpu_in_proportion(container, cgroup_parent):
    """Two busy siblings pinned to CPU 0 with weights 100 and 300 split it about 1:3."""
    if "cpuset" not in (cgroup_parent.path.parent / "cgroup.subtree_control").read_text():
        pytest.skip("the cpuset controller is not available: cannot pin both siblings to one CPU")
    light, heavy = cgroup_parent.cgroups_path("light"), cgroup_parent.cgroups_path("heavy")
    # runc's conversion: cpu.weight = 1 + ((shares - 2) * 9999) / 262142
    for path, shares in ((light, 2622), (heavy, 7865)):
        container.start(config=limited(container.config(BUSY), path, cpu={"shares": shares, "cpus": "0"}))
    weights = [int((cgroup_parent.child(p) / "cpu.weight").read_text()) for p in (light, heavy)]
    assert weights == [100, 300]
    start = [read_keyed(cgroup_parent.child(p) / "cpu.stat")["usage_usec"] for p in (light, heavy)]
    usage_over(cgroup_parent.path, 4.0)
    end = [read_keyed(cgroup_parent.child(p) / "cpu.stat")["usage_usec"] for p in (light, heavy)]
    ratio = (end[1] - start[1]) / max(1, end[0] - start[0])
    assert 1.8 < ratio < 4.5, f"weights 100:300 gave a usage ratio of 1:{ratio:.2f}"


@pytest.mark.requires("cpuset")
def test_cpuset_confines_the_container_to_its_cpus(container, cgroup_parent):
    """cpuset.cpus = 0: the container's Cpus_allowed_list is 0 and a busy loop runs only on CPU 0."""
    if cpus() < 2:
        pytest.skip("needs at least 2 CPUs to tell confinement from the machine's size")
    path = cgroup_parent.cgroups_path()
    script = "grep Cpus_allowed_list /proc/self/status; while :; do :; done"
    running = container.start(config=limited(container.config(["sh", "-c", script]), path, cpu={"cpus": "0"}))
    assert "Cpus_allowed_list:\t0\n" in running.wait_output("Cpus_allowed_list")
    assert (cgroup_parent.child(path) / "cpuset.cpus").read_text().strip() == "0"
    wait_for(lambda: running.proc("stat").split()[38] == "0", 10, what="the loop to be seen on CPU 0")
    for _ in range(20):  # sample where it runs: never anywhere but CPU 0
        assert running.proc("stat").split()[38] == "0"
