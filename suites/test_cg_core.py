"""cgroup v2 core rules, seen through a container's cgroup: no internal processes, top-down delegation,
the container's cgroup holds exactly its processes, and delete removes it."""

from __future__ import annotations

import errno

import pytest

from harness.containers import wait_for

from .cgroup_support import limited


def write_errno(path, value: str) -> int:
    try:
        path.write_text(value)
    except OSError as exc:
        return exc.errno
    return 0


def test_container_cgroup_holds_exactly_its_processes(container, cgroup_parent):
    """The container's init (host pid) is in its cgroup's cgroup.procs, and its /proc/PID/cgroup says so."""
    path = cgroup_parent.cgroups_path()
    running = container.start(config=limited(container.config(["sleep", "300"]), path))
    cgroup = cgroup_parent.child(path)
    assert (cgroup / "cgroup.procs").read_text().split() == [str(running.pid)]
    assert running.proc("cgroup").strip() == f"0::{path}"


def test_no_internal_processes(container, cgroup_parent):
    """A cgroup with processes cannot enable a domain controller (memory, io) for children: EBUSY.
    (Threaded controllers such as cpu, cpuset and pids are exempt, so they prove nothing here.)"""
    path = cgroup_parent.cgroups_path()
    container.start(config=limited(container.config(["sleep", "300"]), path))
    cgroup = cgroup_parent.child(path)
    domain = [c for c in ("memory", "io") if c in (cgroup / "cgroup.controllers").read_text().split()]
    if not domain:
        pytest.skip("no domain controller (memory, io) delegated to the container's cgroup")
    assert write_errno(cgroup / "cgroup.subtree_control", f"+{domain[0]}") == errno.EBUSY


def test_top_down_constraint(container, cgroup_parent):
    """A controller the parent has not enabled cannot be enabled below it (ENOENT)."""
    path = cgroup_parent.cgroups_path()
    container.start(config=limited(container.config(["sleep", "300"]), path))
    cgroup = cgroup_parent.child(path)
    absent = sorted({"cpu", "memory", "pids", "io", "cpuset", "hugetlb", "rdma", "misc"}
                    - set((cgroup / "cgroup.controllers").read_text().split()))
    if not absent:
        pytest.skip("every controller is delegated: nothing to refuse")
    leaf = cgroup / "leaf"
    leaf.mkdir()
    try:
        assert write_errno(leaf / "cgroup.subtree_control", f"+{absent[0]}") in (errno.ENOENT, errno.EINVAL)
    finally:
        leaf.rmdir()


def test_delete_removes_the_container_cgroup(container, cgroup_parent):
    """After run (create, start, wait, delete) the container's cgroup directory is gone."""
    path = cgroup_parent.cgroups_path()
    container.run(config=limited(container.config(["true"]), path)).check()
    wait_for(lambda: not cgroup_parent.child(path).exists(), 30, what="the container's cgroup to be removed")


def block_device() -> tuple[int, int] | None:
    """major:minor of a real block device (not loop), if the kernel has one."""
    from pathlib import Path
    for dev in sorted(Path("/sys/block").glob("*/dev")):
        if not dev.parent.name.startswith("loop"):
            major, minor = dev.read_text().split(":")
            return int(major), int(minor)
    return None


@pytest.mark.requires("io")
def test_io_max_is_written_for_a_block_device(container, cgroup_parent):
    """blockIO.throttleReadBpsDevice lands in io.max as MAJ:MIN rbps=N (where a block device exists)."""
    device = block_device()
    if device is None:
        pytest.skip("io.max needs a block device; there is none (the guests' scratch disk needs virtio_blk, "
                    "which this kernel lacks)")
    major, minor = device
    path = cgroup_parent.cgroups_path()
    container.start(config=limited(container.config(["sleep", "300"]), path, blockIO={
        "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}]}))
    assert f"{major}:{minor} rbps=1048576" in (cgroup_parent.child(path) / "io.max").read_text()
