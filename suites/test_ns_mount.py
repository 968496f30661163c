"""Mount namespace: mounts stay on their side, propagation is private, the old root is gone, masks hold."""

from __future__ import annotations

import ctypes
import os
import uuid
from pathlib import Path

import pytest

_libc = ctypes.CDLL(None, use_errno=True)


def with_sys_admin(config: dict) -> dict:
    for key in ("bounding", "effective", "permitted"):
        config["process"]["capabilities"][key].append("CAP_SYS_ADMIN")
    return config


def test_mount_made_inside_is_invisible_outside(container):
    """A tmpfs mounted inside appears in the container's mountinfo and not in the host's."""
    marker = f"kh-{uuid.uuid4().hex[:8]}"
    config = with_sys_admin(container.config(
        ["sh", "-c", f"mount -t tmpfs {marker} /tmp && echo mounted; sleep 300"]))
    running = container.start(config=config)
    running.wait_output("mounted")
    assert marker in running.proc("mountinfo")
    assert marker not in Path("/proc/self/mountinfo").read_text()


def test_host_mount_does_not_propagate_into_a_running_container(container, bundles):
    """A mount the host makes under the rootfs after the container started stays invisible inside."""
    running = container.start(["sleep", "300"])
    target = bundles.rootfs / "mnt"
    target.mkdir(exist_ok=True)
    marker = f"kh-{uuid.uuid4().hex[:8]}"
    if _libc.mount(marker.encode(), str(target).encode(), b"tmpfs", 0, None) != 0:
        pytest.fail(f"mount(tmpfs on {target}) on the host failed: {os.strerror(ctypes.get_errno())}")
    try:
        assert marker in Path("/proc/self/mountinfo").read_text()
        assert marker not in running.proc("mountinfo")
    finally:
        _libc.umount2(str(target).encode(), 2)


def mount_points(mountinfo: str) -> list[str]:
    """The mount point (5th field) of every line of a mountinfo file."""
    return [line.split()[4] for line in mountinfo.splitlines() if line.strip()]


def test_pivot_root_leaves_no_path_to_the_old_root(container, workdir):
    """A host file next to the bundles is unreachable, and no mount point inside lies in the host tree."""
    marker = workdir / f"host-only-{uuid.uuid4().hex[:8]}"
    marker.write_text("host")
    try:
        script = f"find / -xdev -name {marker.name} 2>/dev/null; echo ---; cat /proc/self/mountinfo"
        found, _, mountinfo = container.run(["sh", "-c", script]).check().stdout.partition("---\n")
        assert marker.name not in found
        assert not [m for m in mount_points(mountinfo) if m.startswith(str(workdir))], \
            "a host path of the bundle area is still a mount point inside"
        assert mount_points(mountinfo)[0] == "/"
    finally:
        marker.unlink()


MASKED_FILES = ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug")
MASKED_DIRS = ("/sys/firmware", "/proc/acpi", "/proc/scsi")


def test_masked_paths_read_empty(container):
    """maskedPaths: masked files (present on the host) read as empty, masked directories list nothing."""
    files = [f for f in MASKED_FILES if os.path.exists(f)]
    dirs = [d for d in MASKED_DIRS if os.path.isdir(d) and os.listdir(d)]
    if not files and not dirs:
        pytest.skip("none of the masked paths exists on this kernel")
    script = "; ".join([f"wc -c < {f}" for f in files] + [f"ls -A {d} | wc -l" for d in dirs])
    sizes = container.run(["sh", "-c", script]).check().stdout.split()
    assert sizes == ["0"] * (len(files) + len(dirs))


def test_readonly_paths_refuse_writes(container):
    """readonlyPaths: /proc/sys is mounted read-only inside even for root with CAP_SYS_ADMIN."""
    config = with_sys_admin(container.config(
        ["sh", "-c", "echo kh > /proc/sys/kernel/hostname && echo wrote || echo refused"]))
    assert container.run(config=config).check().stdout.strip() == "refused"


def test_readonly_root_refuses_writes_and_tmp_accepts_them(container):
    """root.readonly: creating a file in / fails; the tmpfs at /tmp stays writable."""
    script = "touch /kh-new 2>/dev/null && echo root-rw || echo root-ro; touch /tmp/x && echo tmp-rw"
    assert container.run(["sh", "-c", script]).check().stdout.split() == ["root-ro", "tmp-rw"]


def test_propagation_inside_is_private(container):
    """The container's mounts are not shared: mountinfo shows no shared: peer group tag."""
    out = container.run(["cat", "/proc/self/mountinfo"]).check().stdout
    assert out.strip()
    assert "shared:" not in out
