"""Mounts, module loading and power-off for the guest init, through libc via ctypes."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from ..request import MODULES_DIR

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.syscall.restype = ctypes.c_long

SYS_INIT_MODULE = 175
RB_POWER_OFF = 0x4321FEDC
RB_AUTOBOOT = 0x01234567
MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x2, 0x4, 0x8

# (source, target, type, flags, data): what every test may rely on.
BASE_MOUNTS = (
    ("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, ""),
    ("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, ""),
    ("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"),
    ("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666"),
    ("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"),
    ("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, ""),
    ("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"),
    ("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"),
    ("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, "nsdelegate"),
)

# Controllers the suites need in child cgroups.
CONTROLLERS = ("cpu", "memory", "pids", "cpuset", "io")


class GuestSetupError(OSError):
    """A mount or module load failed; the message names the call and errno."""


def mount(source: str, target: str, fstype: str, flags: int, data: str) -> None:
    os.makedirs(target, exist_ok=True)
    if _libc.mount(source.encode(), target.encode(), fstype.encode() or None, flags, data.encode() or None) != 0:
        err = ctypes.get_errno()
        raise GuestSetupError(err, f"mount({source!r}, {target!r}, {fstype!r}, {flags:#x}, {data!r}): "
                                   f"{os.strerror(err)}")


MS_BIND, MS_MOVE = 0x1000, 0x2000


def leave_rootfs(staging: str = "/kharness-root") -> None:
    """Make / a bind mount of the initramfs instead of the initramfs (rootfs) mount itself.

    pivot_root(2) fails with EINVAL while the caller's root is the rootfs mount, which has no
    parent; every container runtime pivots. Binding / onto a directory, moving that bind over /
    and chrooting into it gives a root with a parent, with nothing copied (switch_root copies).
    """
    os.makedirs(staging, exist_ok=True)
    mount("/", staging, "", MS_BIND, "")
    os.chdir(staging)
    mount(".", "/", "", MS_MOVE, "")
    os.chroot(".")
    os.chdir("/")


def mount_all() -> None:
    for entry in BASE_MOUNTS:
        # An interpreter packed from a venv under /tmp lives in the image's /tmp: do not hide it.
        if entry[1] == "/tmp" and os.listdir("/tmp"):
            continue
        mount(*entry)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        if not os.path.lexists(f"/dev/{name}"):
            os.symlink(target, f"/dev/{name}")


def loopback_up() -> None:
    """Bring lo up, as any booted system has it (the suites compare the guest's network with a container's)."""
    import fcntl
    import socket
    import struct
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, siocgifflags, request))[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))


def enable_controllers(root: Path = Path("/sys/fs/cgroup")) -> list[str]:
    """Enable the suites' controllers for children of the root cgroup; return the missing ones."""
    available = (root / "cgroup.controllers").read_text().split()
    wanted = [c for c in CONTROLLERS if c in available]
    (root / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))
    return [c for c in CONTROLLERS if c not in available]


# A cgroup that holds an allow-all device program for the guest's lifetime (see pin_device_program).
DEVICE_PIN_CGROUP = "kharness-device-pin"


def pin_device_program(root: Path = Path("/sys/fs/cgroup")) -> str:
    """Attach an allow-all device program to an empty cgroup of its own, so the kernel's static key for cgroup
    device programs stays on; returns the cgroup's path.

    Every container's cgroup gets a device program that goes with the cgroup, so without this each container
    turns the key on and off, and each toggle patches kernel text through int3 (text_poke_bp). Under QEMU's TCG
    with two vCPUs, a vCPU now and then executes the int3 after the patch is done and the kernel dies with
    "Oops: int3" in devcgroup_check_permission (6.12 guest, the 500-run lifecycle test): an emulator race, not
    what the suites test. The pinned program is on a sibling of every container's cgroup, so it decides nothing
    for them (a device program applies to its cgroup's subtree only).
    """
    from harness.runtime.devicefilter import attach_device_filter
    from harness.runtime.spec_resources import DeviceRule
    from harness.runtime.syscalls import Syscalls
    path = root / DEVICE_PIN_CGROUP
    path.mkdir(exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        attach_device_filter((DeviceRule(allow=True),), fd, Syscalls())
    finally:
        os.close(fd)
    return str(path)


# A cgroup that holds a CPU quota for the guest's lifetime (see pin_cfs_bandwidth).
CFS_BANDWIDTH_PIN_CGROUP = "kharness-cfs-bandwidth-pin"
# 10 CPUs' worth per period: a finite quota, which is all the key needs; the cgroup holds no process anyway.
CFS_BANDWIDTH_PIN_QUOTA = "1000000 100000"


def pin_cfs_bandwidth(root: Path = Path("/sys/fs/cgroup")) -> str:
    """Give an empty cgroup of its own a finite cpu.max, so the scheduler's static key for CPU bandwidth control
    (__cfs_bandwidth_used) is on from boot; returns the cgroup's path.

    The key is on while any cgroup has a quota, so without this the first cpu.max a suite writes turns it on,
    patching the scheduler's hot paths through int3 (text_poke_bp) while the other vCPU runs them. Under QEMU's
    TCG that went wrong twice on 2026-12-05, both times in test_cpu_max_caps_a_busy_loop, with two guests
    running: 7.2 died with "Oops: int3" in dequeue_task_fair, and 6.1 hung in kernel code (soft lockup). The
    same emulator race as pin_device_program's; with the key on from boot the suites' quotas patch nothing.
    The quota is on a sibling of every container's cgroup: it limits none of them.
    """
    path = root / CFS_BANDWIDTH_PIN_CGROUP
    path.mkdir(exist_ok=True)
    (path / "cpu.max").write_text(CFS_BANDWIDTH_PIN_QUOTA)
    return str(path)


def load_modules(directory: Path = Path("/") / MODULES_DIR) -> list[str]:
    """Load the packed modules in dependency order with init_module(2); return their names."""
    order = directory / "order"
    if not order.is_file():
        return []
    loaded = []
    for name in order.read_text().split():
        image = (directory / f"{name}.ko").read_bytes()
        buf = ctypes.create_string_buffer(image, len(image))
        if _libc.syscall(SYS_INIT_MODULE, buf, ctypes.c_ulong(len(image)), b"") != 0:
            err = ctypes.get_errno()
            if err != 17:  # EEXIST: already loaded
                raise GuestSetupError(err, f"init_module({name}.ko, {len(image)} bytes): {os.strerror(err)}")
        loaded.append(name)
    return loaded


def power_off() -> None:
    """Flush and power off; if ACPI power-off fails, reboot, which -no-reboot turns into an exit."""
    os.sync()
    _libc.reboot(RB_POWER_OFF)
    _libc.reboot(RB_AUTOBOOT)
