"""Cgroup namespace: the container sees its own cgroup as "/", while the host sees where it really is."""

from __future__ import annotations

import errno
import uuid
from pathlib import Path

import pytest

from harness.containers import with_namespaces
from harness.runtime.cgroups import cgroup2_mount_point

pytestmark = pytest.mark.requires("cgroup_namespace")

PARENT = "/kharness-suites"
WITH_CGROUP_NS = ["pid", "network", "ipc", "uts", "mount", "cgroup"]
WITHOUT_CGROUP_NS = ["pid", "network", "ipc", "uts", "mount"]
SHOW = "cat /proc/self/cgroup; echo ready; sleep 300"


def cgroup_lines(text: str) -> dict[str, str]:
    """/proc/PID/cgroup as {"<id>:<controllers>": path}; "0:" is the unified (v2) hierarchy."""
    lines = {}
    for line in text.splitlines():
        if line.strip() and line != "ready":
            hierarchy, _, path = line.rpartition(":")
            lines[hierarchy] = path
    return lines


def start_showing_cgroups(container, kinds: list[str], cgroups_path: str | None = None):
    config = with_namespaces(container.config(["sh", "-c", SHOW]), kinds)
    if cgroups_path is not None:
        config["linux"]["cgroupsPath"] = cgroups_path
    running = container.start(config=config)
    inside = cgroup_lines(running.wait_output("ready"))
    return running, inside, cgroup_lines(running.proc("cgroup"))


def test_container_sees_its_cgroup_as_the_root(container):
    """In a new cgroup namespace the container's own unified cgroup reads "0::/"; so does every v1 hierarchy (on a
    hybrid host), since the namespace is rooted at the cgroups the process was in when it was made."""
    _, inside, outside = start_showing_cgroups(container, WITH_CGROUP_NS)
    assert inside.get("0:") == "/", inside
    assert set(inside.values()) == {"/"}, inside
    assert set(inside) == set(outside), "the namespace hides paths, not hierarchies"


def test_host_sees_the_real_cgroup_of_a_namespaced_container(container):
    """From the host, /proc/PID/cgroup of the same process names its real cgroup: a directory of the unified
    hierarchy whose cgroup.procs lists the process (whatever the container itself reads)."""
    running, inside, outside = start_showing_cgroups(container, WITH_CGROUP_NS)
    mount_point = cgroup2_mount_point()
    assert mount_point is not None, "no cgroup2 hierarchy is mounted on the host"
    real = Path(mount_point) / outside["0:"].lstrip("/")
    assert real.is_dir(), f"{outside['0:']} (from /proc/{running.pid}/cgroup) is not a cgroup under {mount_point}"
    assert str(running.pid) in (real / "cgroup.procs").read_text().split()
    assert inside["0:"] == "/"


@pytest.fixture
def cgroup_parent():
    """The parent of the tests' cgroupsPath; requested before `container`, so it is removed after the runtime has
    deleted the containers' own cgroups (runtimes remove the leaf only). Left alone while something is in it."""
    yield PARENT
    for mount_point in {cgroup2_mount_point()} - {None}:
        try:
            (Path(mount_point) / PARENT.lstrip("/")).rmdir()
        except OSError as error:
            if error.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EBUSY):
                raise


@pytest.mark.requires("cgroup2")
def test_cgroups_path_is_seen_from_the_host_and_hidden_inside(cgroup_parent, container):
    """With linux.cgroupsPath set, the host sees the container's process in that cgroup while the container's
    cgroup namespace is rooted there, so it reads "0::/"."""
    path = f"{cgroup_parent}/{uuid.uuid4().hex}"
    running, inside, outside = start_showing_cgroups(container, WITH_CGROUP_NS, cgroups_path=path)
    assert inside["0:"] == "/"
    assert outside["0:"].endswith(path), f"the host sees the container in {outside['0:']}, not in {path}"
    real = Path(cgroup2_mount_point()) / outside["0:"].lstrip("/")
    assert str(running.pid) in (real / "cgroup.procs").read_text().split()


def test_without_a_cgroup_namespace_the_container_sees_the_host_paths(container):
    """Without a cgroup namespace, /proc/self/cgroup inside is what the host reads in /proc/PID/cgroup, and the
    container shares the host's cgroup namespace."""
    running, inside, outside = start_showing_cgroups(container, WITHOUT_CGROUP_NS)
    assert inside == outside
    assert Path(f"/proc/{running.pid}/ns/cgroup").readlink() == Path("/proc/self/ns/cgroup").readlink()
