"""Property: for any valid limits, the cgroup files read back what was asked, after the kernel's rounding."""

from __future__ import annotations

import resource

from hypothesis import given
from hypothesis import strategies as st

from .cgroup_support import limited

PAGE = resource.getpagesize()


@st.composite
def cpu_max(draw) -> tuple[int, int]:
    """(quota, period) giving the container at least a fifth of a CPU. The runtime's init sets the container up
    inside its cgroup, so it is throttled too: under TCG 1000 us per 876500 us (0.1%) kept it from answering
    within the runtime's 60 s (5.10, 2026-12-04), a limit working as asked, not a read-back failure."""
    period = draw(st.integers(min_value=1000, max_value=1000000))
    return draw(st.integers(min_value=max(1000, period // 5), max_value=max(400000, period // 5))), period


# From 32 MiB: runc's init re-executes a copy of its binary from a memfd (~8 MiB of shmem, charged to
# the container), so below ~16 MiB runc itself is OOM-killed before the container's process starts.
@given(memory=st.integers(min_value=32 << 20, max_value=1 << 30),
       pids=st.integers(min_value=8, max_value=4096),
       cpu=cpu_max(),
       shares=st.integers(min_value=2, max_value=262144))
def test_limits_read_back_as_requested(container, cgroup_parent, memory, pids, cpu, shares):
    """memory.max = limit rounded down to a page; pids.max = limit; cpu.max = quota period;
    cpu.weight = 1 + ((shares - 2) * 9999) // 262142 (runc's conversion)."""
    quota, period = cpu
    path = cgroup_parent.cgroups_path()
    config = limited(container.config(["true"]), path, memory={"limit": memory}, pids={"limit": pids},
                     cpu={"quota": quota, "period": period, "shares": shares})
    config["process"]["args"] = ["sh", "-c",
                                 "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max "
                                 "/sys/fs/cgroup/cpu.max /sys/fs/cgroup/cpu.weight"]
    config["linux"]["namespaces"].append({"type": "cgroup"})
    lines = container.run(config=config).check().stdout.split("\n")
    assert int(lines[0]) == memory // PAGE * PAGE
    assert int(lines[1]) == pids
    assert lines[2].split() == [str(quota), str(period)]
    assert int(lines[3]) == 1 + ((shares - 2) * 9999) // 262142
