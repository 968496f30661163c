"""Property: for any valid limits, the cgroup files read back what was asked, after the kernel's rounding."""

from __future__ import annotations

import resource

from hypothesis import given
from hypothesis import strategies as st

from .cgroup_support import limited

PAGE = resource.getpagesize()


# From 32 MiB: runc's init re-executes a copy of its binary from a memfd (~8 MiB of shmem, charged to
# the container), so below ~16 MiB runc itself is OOM-killed before the container's process starts.
@given(memory=st.integers(min_value=32 << 20, max_value=1 << 30),
       pids=st.integers(min_value=8, max_value=4096),
       quota=st.integers(min_value=1000, max_value=400000),
       period=st.integers(min_value=1000, max_value=1000000),
       shares=st.integers(min_value=2, max_value=262144))
def test_limits_read_back_as_requested(container, cgroup_parent, memory, pids, quota, period, shares):
    """memory.max = limit rounded down to a page; pids.max = limit; cpu.max = quota period;
    cpu.weight = 1 + ((shares - 2) * 9999) // 262142 (runc's conversion)."""
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
