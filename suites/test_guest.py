"""The guest itself: the kernel asked for is running, cgroup2 is set up, the bundled busybox works."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CGROUP = Path("/sys/fs/cgroup")
SUITE_CONTROLLERS = {"cpu", "memory", "pids", "cpuset", "io"}


def test_running_kernel_is_the_one_asked_for(guest_kernel):
    """uname's release equals the release of the package (or bzImage) the host booted."""
    assert guest_kernel["release"], "the host passed no expected release"
    assert os.uname().release == guest_kernel["release"]


def test_cgroup2_is_mounted_with_the_suite_controllers(guest_kernel):
    """/sys/fs/cgroup is a cgroup2 mount whose root enables cpu, memory, pids, cpuset, io for children."""
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    types = {line.split()[1]: line.split()[2] for line in mounts}
    assert types.get(str(CGROUP)) == "cgroup2"
    enabled = set((CGROUP / "cgroup.subtree_control").read_text().split())
    assert SUITE_CONTROLLERS <= enabled, f"missing controllers: {SUITE_CONTROLLERS - enabled}"


def test_device_program_key_is_pinned(guest_kernel):
    """The init attached one allow-all device program to its pin cgroup (sysfs.pin_device_program), so no
    container toggles the kernel's static key, the text patching that QEMU's TCG races on."""
    from harness.guest.sysfs import DEVICE_PIN_CGROUP
    from harness.runtime import bpf
    from harness.runtime.syscalls import Syscalls
    fd = os.open(CGROUP / DEVICE_PIN_CGROUP, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert len(Syscalls().bpf_prog_query(fd, bpf.BPF_CGROUP_DEVICE)) == 1
    finally:
        os.close(fd)


def test_cfs_bandwidth_key_is_pinned(guest_kernel):
    """The init gave its pin cgroup a finite cpu.max (sysfs.pin_cfs_bandwidth), so the scheduler's CPU bandwidth
    static key is on before any test writes a quota: no suite patches the scheduler's text while it runs."""
    from harness.guest.sysfs import CFS_BANDWIDTH_PIN_CGROUP, CFS_BANDWIDTH_PIN_QUOTA
    assert (CGROUP / CFS_BANDWIDTH_PIN_CGROUP / "cpu.max").read_text().split() == CFS_BANDWIDTH_PIN_QUOTA.split()


def test_child_cgroup_gets_the_controllers(guest_kernel, tmp_path):
    """A child cgroup created under the root exposes memory.max and pids.max (controllers delegated)."""
    child = CGROUP / f"kharness-probe-{os.getpid()}"
    child.mkdir()
    try:
        assert (child / "memory.max").read_text().strip() == "max"
        assert (child / "pids.max").read_text().strip() == "max"
    finally:
        child.rmdir()


@pytest.mark.parametrize("argv, expected", [
    (["busybox", "echo", "hello"], "hello\n"),
    (["sh", "-c", "echo $((6 * 7))"], "42\n"),
    (["busybox", "sha256sum", "/dev/null"],
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  /dev/null\n"),
], ids=["echo", "shell-arithmetic", "sha256sum"])
def test_bundled_busybox_runs(guest_kernel, argv, expected):
    """The busybox packed into the image runs its applets (the future containers' root filesystem)."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected


def link_kind_works(kind: str) -> bool:
    """Whether the running kernel makes a link of this kind: made in the throwaway network namespace of a forked
    child, it goes with the child. (A driver built in shows in /sys/module only when it has parameters or a
    version: bridge does, veth does not.)"""
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            from pyroute2 import IPRoute

            from harness.runtime import constants
            from harness.runtime.syscalls import Syscalls
            Syscalls().unshare(constants.CLONE_NEWNET)
            with IPRoute() as ipr:
                ipr.link("add", ifname="probe0", kind=kind, **({"peer": "probe1"} if kind == "veth" else {}))
            status = 0
        finally:
            os._exit(status)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def test_guest_modules_are_loaded(guest_kernel):
    """veth, bridge and overlay are usable: loaded as modules, or built in (a kernel without module support,
    built from vm-images/kharness.config, has no /proc/modules: there each link kind is made once)."""
    modules = Path("/proc/modules")
    loaded = {line.split()[0] for line in modules.read_text().splitlines()} if modules.exists() else set()
    assert "overlay" in Path("/proc/filesystems").read_text()
    for name in ("veth", "bridge"):
        assert name in loaded or Path(f"/sys/module/{name}").exists() or link_kind_works(name), \
            f"{name} is neither loaded as a module nor built in (making a {name} link failed)"


@pytest.mark.parametrize("runtime", ["runc", "crun"])
def test_other_oci_runtimes_are_packed(guest_kernel, runtime):
    """runc and crun (packed when the host has them; CI installs both) start in the guest."""
    path = shutil.which(runtime)
    if path is None:
        pytest.skip(f"{runtime} is not in the image: the host that built it has no {runtime}")
    result = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "version" in result.stdout


def test_root_is_not_the_rootfs_mount(guest_kernel):
    """/ is a bind mount with a parent (not the initramfs's rootfs), so runtimes can pivot_root."""
    root = [line.split() for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if line.split()[4] == "/"]
    assert root, "no mount at /"
    assert root[-1][0] != root[-1][1], "the root mount is its own parent: pivot_root would fail with EINVAL"


def test_loopback_is_up(guest_kernel):
    """The guest's lo is up, like any booted system's (network suites compare against it)."""
    flags = int(Path("/sys/class/net/lo/flags").read_text(), 16)
    assert flags & 0x1, "lo is down"
