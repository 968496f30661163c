"""Execute a mount plan (rootfs_plan.plan_rootfs) through the syscall seam, inside the container's mount namespace."""

import errno
import os
import stat

from . import constants as c
from .errors import ContainerError, SyscallError
from .mount_options import REMOUNT_FLAGS
from .mount_steps import CREATE_DIR, CREATE_FILE, CREATE_LIKE_SOURCE, DeviceNode, MaskPath, MountStep, PivotRoot, \
    ReadonlyPath, Step, Symlink, WriteFile
from .securejoin import resolve_in_root
from .syscalls import Syscalls

# statvfs flag -> the mount flag a remount must repeat: the kernel locks these on mounts that a less privileged
# user namespace inherits, and a remount that would clear them fails with EPERM.
_LOCKED_FLAGS = {os.ST_NOSUID: c.MS_NOSUID, os.ST_NODEV: c.MS_NODEV, os.ST_NOEXEC: c.MS_NOEXEC}
# Where a masked file's replacement comes from: the host's, since every mask is applied before pivot_root.
NULL_DEVICE = "/dev/null"
# What a container gets at a cgroup2 mount that the kernel refuses: the host's hierarchy, bound.
CGROUP2_HIERARCHY = "/sys/fs/cgroup"
MOUNTINFO = "/proc/self/mountinfo"


def apply_rootfs_plan(steps: tuple[Step, ...], syscalls: Syscalls, rootfs: str) -> None:
    """Run each step in order; any failure raises ContainerError naming the step (`mounts[2] (/dev/pts): ...`)."""
    for step in steps:
        try:
            _apply(step, syscalls, rootfs)
        except ContainerError:
            raise
        except OSError as error:  # SyscallError included: its text names the call, arguments and errno
            raise ContainerError(f"{step.what}: {_describe(error)}") from error


def _apply(step: Step, syscalls: Syscalls, rootfs: str) -> None:
    if isinstance(step, MountStep):
        _mount(step, syscalls, rootfs)
    elif isinstance(step, Symlink):
        _symlink(step, rootfs)
    elif isinstance(step, MaskPath):
        _mask(step, syscalls, rootfs)
    elif isinstance(step, ReadonlyPath):
        _make_readonly(step, syscalls, rootfs)
    elif isinstance(step, WriteFile):
        _write(step, rootfs)
    elif isinstance(step, PivotRoot):
        _pivot_root(step, syscalls)
    elif isinstance(step, DeviceNode):
        _device_node(step, syscalls, rootfs)
    else:
        raise TypeError(f"unknown mount plan step {step!r}")


def _mount(step: MountStep, syscalls: Syscalls, rootfs: str) -> None:
    if step.optional and step.source and not os.path.exists(step.source):
        return
    target = resolve_in_root(rootfs, step.target, step.what) if step.in_rootfs else step.target
    if step.create:
        _create_mount_point(target, step)
    flags = step.flags
    if step.keep_locked_flags:
        flags |= locked_flags(target)
    try:
        syscalls.mount(step.source, target, step.fstype, flags, step.data)
    except SyscallError as error:
        # In a user namespace without its own cgroup namespace the kernel refuses a cgroup2 mount (EPERM); runc
        # then binds the host's hierarchy instead, and so do we.
        if step.fstype != "cgroup2" or error.errno not in (errno.EPERM, errno.EBUSY):
            raise
        syscalls.mount(CGROUP2_HIERARCHY, target, None, c.MS_BIND | c.MS_REC, None)
        if flags & REMOUNT_FLAGS:
            syscalls.mount(None, target, None, c.MS_BIND | c.MS_REMOUNT | (flags & REMOUNT_FLAGS)
                           | locked_flags(target), None)


def _create_mount_point(target: str, step: MountStep) -> None:
    kind = step.create
    if kind == CREATE_LIKE_SOURCE:
        kind = CREATE_DIR if os.path.isdir(step.source or "") else CREATE_FILE
    if kind == CREATE_DIR:
        os.makedirs(target, exist_ok=True)
    elif not os.path.lexists(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        # O_EXCL|O_NOFOLLOW: never open through a symlink planted after the resolution.
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644))


def locked_flags(path: str) -> int:
    """The nosuid/nodev/noexec mount flags that the mount holding `path` has now."""
    current = os.statvfs(path).f_flag
    return sum(mount_flag for statvfs_flag, mount_flag in _LOCKED_FLAGS.items() if current & statvfs_flag)


def _symlink(step: Symlink, rootfs: str) -> None:
    parent = resolve_in_root(rootfs, os.path.dirname(step.link), step.what)
    link = os.path.join(parent, os.path.basename(step.link))
    if os.path.lexists(link):
        if not step.replace:
            return  # the rootfs already has it, as runc tolerates
        os.unlink(link)
    os.symlink(step.target, link)


def _mask(step: MaskPath, syscalls: Syscalls, rootfs: str) -> None:
    path = resolve_in_root(rootfs, step.path, step.what)
    if not os.path.lexists(path):
        return  # runc skips masked paths the kernel does not have (/proc/timer_stats, ...)
    if stat.S_ISDIR(os.lstat(path).st_mode):
        syscalls.mount("tmpfs", path, "tmpfs", c.MS_RDONLY, None)
    else:
        syscalls.mount(_null_device(rootfs), path, None, c.MS_BIND, None)


def _null_device(rootfs: str) -> str:
    """The container's own /dev/null when it has one (runc masks after pivot_root, with that one), else the host's."""
    own = os.path.join(rootfs, "dev", "null")
    try:
        if stat.S_ISCHR(os.lstat(own).st_mode):
            return own
    except FileNotFoundError:
        pass
    return NULL_DEVICE


def _device_node(step: DeviceNode, syscalls: Syscalls, rootfs: str) -> None:
    parent = resolve_in_root(rootfs, os.path.dirname(step.path), step.what)
    os.makedirs(parent, exist_ok=True)  # a rootfs whose /dev is no mount may lack the directory
    path = os.path.join(parent, os.path.basename(step.path))
    if os.path.lexists(path):
        return  # the rootfs brings its own, as runc tolerates
    previous = os.umask(0)  # the nodes are 0666 as in runc, whatever the runtime's umask
    try:
        syscalls.mknod(path, stat.S_IFCHR | 0o666, os.makedev(step.major, step.minor))
    finally:
        os.umask(previous)


def _make_readonly(step: ReadonlyPath, syscalls: Syscalls, rootfs: str) -> None:
    path = resolve_in_root(rootfs, step.path, step.what)
    if not os.path.lexists(path):
        return
    syscalls.mount(path, path, None, c.MS_BIND | c.MS_REC, None)
    syscalls.mount(None, path, None, c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY | locked_flags(path), None)


def _write(step: WriteFile, rootfs: str) -> None:
    path = resolve_in_root(rootfs, step.path, step.what)
    # No O_CREAT: a sysctl that does not exist is an error, not a new file in the rootfs.
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    try:
        os.write(fd, step.value.encode())
    finally:
        os.close(fd)


def _pivot_root(step: PivotRoot, syscalls: Syscalls) -> None:
    syscalls.chdir(step.rootfs)
    # pivot_root(".", ".") stacks the old root on top of the new one (no put_old directory is needed), and the
    # lazy unmount of "." then removes it: no path to the host's filesystem remains in the container.
    try:
        syscalls.pivot_root(".", ".")
    except SyscallError as error:
        if error.errno != errno.EINVAL or not root_is_initramfs():
            raise
        # The initramfs is the root of the initial mount tree: pivot_root refuses to move it (EINVAL), always.
        # As runc --no-pivot does: move the new root over "/" and chroot into it. The old root stays underneath,
        # unreachable from the container's root and left out of its mountinfo.
        syscalls.mount(".", "/", None, c.MS_MOVE, None)
        syscalls.chroot(".")
        syscalls.chdir("/")
        return
    syscalls.umount2(".", c.MNT_DETACH)
    syscalls.chdir("/")


def root_is_initramfs(mountinfo: str | None = None) -> bool:
    """Whether "/" is the initramfs (filesystem type "rootfs"), as in a harness guest."""
    with open(mountinfo or MOUNTINFO, encoding="utf-8") as lines:
        for line in lines:
            fields = line.split()
            if fields[4] == "/":
                return fields[fields.index("-") + 1] == "rootfs"
    return False


def _describe(error: OSError) -> str:
    if error.filename is not None:
        return f"{error.strerror}: {error.filename}"
    return str(error)
