"""Execute a mount plan (rootfs_plan.plan_rootfs) through the syscall seam, inside the container's mount namespace."""

import errno
import os
import stat

from . import constants as c
from .errors import ContainerError, SyscallError
from .idmap_mount import UsernsMaker, apply_idmapped_bind
from .mount_options import REMOUNT_FLAGS
from .mount_steps import CREATE_DIR, CREATE_FILE, CREATE_LIKE_SOURCE, DeviceNode, IdmappedBind, MaskPath, MountStep, \
    PivotRoot, ReadonlyPath, Step, Symlink, WriteFile
from .rootfs_dir import RootDir, Target, fd_path
from .syscalls import Syscalls

# statvfs/statfs flag -> the mount flag a remount must repeat: the kernel locks these on mounts that a less
# privileged user namespace inherits, and a remount that would clear them fails with EPERM.
_LOCKED_FLAGS = {os.ST_NOSUID: c.MS_NOSUID, os.ST_NODEV: c.MS_NODEV, os.ST_NOEXEC: c.MS_NOEXEC}
# Where a masked file's replacement comes from when the container's own /dev/null will not do (every mask is
# applied before pivot_root, so this is the host's).
NULL_DEVICE = "/dev/null"
NULL_DEVICE_NUMBER = os.makedev(1, 3)
# What a container gets at a cgroup2 mount that the kernel refuses: the host's hierarchy, bound.
CGROUP2_HIERARCHY = "/sys/fs/cgroup"
MOUNTINFO = "/proc/self/mountinfo"


def apply_rootfs_plan(steps: tuple[Step, ...], syscalls: Syscalls, rootfs: str,
                      make_userns: UsernsMaker | None = None) -> None:
    """Run each step in order; any failure raises ContainerError naming the step (`mounts[2] (/dev/pts): ...`).

    Steps on container paths reach them through one O_PATH descriptor of the rootfs (rootfs_dir.py), closed at
    the end. `make_userns` makes the user namespaces of idmapped mounts (idmap_mount.mapped_user_namespace).
    """
    root = RootDir(syscalls, rootfs)
    null = _NullDevice(syscalls, root)
    try:
        for step in steps:
            if isinstance(step, PivotRoot) or (isinstance(step, MountStep) and not step.in_rootfs):
                root.forget_directories()  # mounts on container paths drop what they cover themselves (RootDir.target)
            if not isinstance(step, MaskPath):  # the masks come in a row: the null device is shared by them only
                null.close()
            try:
                if isinstance(step, IdmappedBind):
                    apply_idmapped_bind(step, syscalls, root, lambda path: _create_mount_point(root, path, step),
                                        make_userns)
                else:
                    _apply(step, syscalls, root, null)
            except ContainerError:
                raise
            except OSError as error:  # SyscallError included: its text names the call, arguments and errno
                raise ContainerError(f"{step.what}: {_describe(error)}") from error
    finally:
        null.close()
        root.close()


def _apply(step: Step, syscalls: Syscalls, root: RootDir, null: "_NullDevice") -> None:
    if isinstance(step, MountStep):
        _mount(step, syscalls, root)
    elif isinstance(step, Symlink):
        _symlink(step, syscalls, root)
    elif isinstance(step, MaskPath):
        _mask(step, syscalls, root, null)
    elif isinstance(step, ReadonlyPath):
        _make_readonly(step, syscalls, root)
    elif isinstance(step, WriteFile):
        _write(step, syscalls, root)
    elif isinstance(step, PivotRoot):
        _pivot_root(step, syscalls)
    elif isinstance(step, DeviceNode):
        _device_node(step, syscalls, root)
    else:
        raise TypeError(f"unknown mount plan step {step!r}")


def _mount(step: MountStep, syscalls: Syscalls, root: RootDir) -> None:
    if step.optional and step.source and not os.path.exists(step.source):
        return
    if not step.in_rootfs:  # a host path ("/", the rootfs itself): the runtime's own, no container can swap it
        try:
            # As runc's setReadonly: first as asked (a privileged remount may clear nosuid/nodev the host mount
            # has, and runc's does), and with the flags the kernel locks only if it refuses that (a user namespace).
            syscalls.mount(step.source, step.target, step.fstype, step.flags, step.data)
        except SyscallError as error:
            if not step.keep_locked_flags or error.errno != errno.EPERM:
                raise
            syscalls.mount(step.source, step.target, step.fstype, step.flags | locked_flags(step.target), step.data)
        return
    relative = root.resolve(step.target, step.what)
    create = (lambda: _create_mount_point(root, relative, step)) if step.create else None
    with root.target(relative, create=create) as target:
        flags = step.flags | (_locked_flags_of(syscalls, target) if step.keep_locked_flags else 0)
        try:
            syscalls.mount(step.source, target.path, step.fstype, flags, step.data)
            return
        except SyscallError as error:
            # In a user namespace without its own cgroup namespace the kernel refuses a cgroup2 mount (EPERM); runc
            # then binds the host's hierarchy instead, and so do we.
            if step.fstype != "cgroup2" or error.errno not in (errno.EPERM, errno.EBUSY):
                raise
        syscalls.mount(CGROUP2_HIERARCHY, target.path, None, c.MS_BIND | c.MS_REC, None)
    # Only after that fallback bind, which ignored the ro (nosuid, ...) the spec asks for: remount it, through the
    # path opened anew, since `target` holds the directory that the bind now covers.
    if flags & REMOUNT_FLAGS:
        with root.target(relative) as bound:
            syscalls.mount(None, bound.path, None, c.MS_BIND | c.MS_REMOUNT | (flags & REMOUNT_FLAGS)
                           | _locked_flags_of(syscalls, bound), None)


def _create_mount_point(root: RootDir, relative: str, step: MountStep | IdmappedBind) -> None:
    kind = step.create
    if kind == CREATE_LIKE_SOURCE:
        kind = CREATE_DIR if os.path.isdir(step.source or "") else CREATE_FILE
    if kind == CREATE_DIR:
        root.make_dirs(relative)
    else:
        root.make_file(relative)


def locked_flags(path: str) -> int:
    """The nosuid/nodev/noexec mount flags that the mount holding host path `path` has now."""
    return _locked(os.statvfs(path).f_flag)


def _locked_flags_of(syscalls: Syscalls, target: Target) -> int:
    """The nosuid/nodev/noexec mount flags of the mount holding an opened target."""
    return _locked(syscalls.fstatfs(target.fd).flags)


def _locked(statfs_flags: int) -> int:
    return sum(mount_flag for statfs_flag, mount_flag in _LOCKED_FLAGS.items() if statfs_flags & statfs_flag)


def _symlink(step: Symlink, syscalls: Syscalls, root: RootDir) -> None:
    name = os.path.basename(step.link)
    parent = root.entries_in(root.resolve(os.path.dirname(step.link), step.what))
    try:
        syscalls.symlinkat(step.target, parent, name)
        return
    except SyscallError as error:
        if error.errno != errno.EEXIST:
            raise
    if not step.replace:
        return  # the rootfs already has it, as runc tolerates
    syscalls.unlinkat(parent, name)
    syscalls.symlinkat(step.target, parent, name)


def _mask(step: MaskPath, syscalls: Syscalls, root: RootDir, null: "_NullDevice") -> None:
    relative = root.resolve_existing(step.path, step.what)
    if relative is None:
        return  # runc skips masked paths the kernel does not have (/proc/timer_stats, ...)
    with root.target(relative, missing_ok=True) as target:
        if target is None:
            return
        if stat.S_ISDIR(syscalls.fstat(target.fd).st_mode):
            syscalls.mount("tmpfs", target.path, "tmpfs", c.MS_RDONLY, None)
            return
        # Bound from the descriptor checked to be 1:3: a path string could be swapped for another file (a rootfs's
        # /dev/null that is a regular file or a link to one) between the check and the bind (CVE-2025-52565).
        syscalls.mount(fd_path(null.fd(step.what)), target.path, None, c.MS_BIND, None)


class _NullDevice:
    """An O_PATH descriptor of the null device (character device 1:3), opened at the first mask of a file and kept
    for the others of the plan: the container's own /dev/null, as runc masks with after pivot_root, else the host's."""

    def __init__(self, syscalls: Syscalls, root: RootDir) -> None:
        self.syscalls = syscalls
        self.root = root
        self._fd: int | None = None

    def fd(self, what: str) -> int:
        if self._fd is None:
            self._fd = _open_null_device(self.syscalls, self.root, what)
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            self.syscalls.close(fd)


def _open_null_device(syscalls: Syscalls, root: RootDir, what: str) -> int:
    """An O_PATH descriptor of the null device (character device 1:3): the container's own /dev/null, as runc
    masks with after pivot_root, else the host's."""
    opening = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
    candidates = ((f"the container's {NULL_DEVICE}", lambda: root.open(NULL_DEVICE.lstrip("/"), opening)),
                  (f"the host's {NULL_DEVICE}", lambda: syscalls.open(NULL_DEVICE, opening)))
    refusals = []
    for name, open_candidate in candidates:
        try:
            fd = open_candidate()
        except SyscallError as error:
            refusals.append(f"{name}: {error}")
            continue
        found = syscalls.fstat(fd)
        if stat.S_ISCHR(found.st_mode) and found.st_rdev == NULL_DEVICE_NUMBER:
            return fd
        syscalls.close(fd)
        refusals.append(f"{name} is not the null device (mode {stat.filemode(found.st_mode)}, device "
                        f"{os.major(found.st_rdev)}:{os.minor(found.st_rdev)})")
    raise ContainerError(f"{what}: no null device to mask it with: {'; '.join(refusals)}")


def _device_node(step: DeviceNode, syscalls: Syscalls, root: RootDir) -> None:
    directory = root.entries_in(root.resolve(os.path.dirname(step.path), step.what))
    previous = os.umask(0)  # the nodes are 0666 as in runc, whatever the runtime's umask
    try:
        syscalls.mknodat(directory, os.path.basename(step.path), stat.S_IFCHR | 0o666,
                         os.makedev(step.major, step.minor))
    except SyscallError as error:
        if error.errno != errno.EEXIST:  # EEXIST: the rootfs brings its own, as runc tolerates
            raise
    finally:
        os.umask(previous)


def _make_readonly(step: ReadonlyPath, syscalls: Syscalls, root: RootDir) -> None:
    relative = root.resolve_existing(step.path, step.what)
    if relative is None:
        return
    with root.target(relative, missing_ok=True) as target:
        if target is None:
            return
        syscalls.mount(target.path, target.path, None, c.MS_BIND | c.MS_REC, None)
    with root.target(relative) as bound:  # anew: the remount must reach the bind just made
        syscalls.mount(None, bound.path, None, c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY
                       | _locked_flags_of(syscalls, bound), None)


def _write(step: WriteFile, syscalls: Syscalls, root: RootDir) -> None:
    # No O_CREAT: a sysctl that does not exist is an error, not a new file in the rootfs. No O_TRUNC: it would cut a
    # file that is not procfs before the check below refuses it (a sysctl takes what is written at offset 0 anyway).
    # No symlink on the way: /proc/sys has none, so one there was planted to lead the write elsewhere.
    fd = root.open(root.resolve(step.path, step.what), os.O_WRONLY,
                   resolve=c.RESOLVE_IN_ROOT | c.RESOLVE_NO_SYMLINKS | c.RESOLVE_NO_MAGICLINKS)
    try:
        # Only procfs takes a sysctl: a spec without a proc mount leaves the rootfs's own files at /proc, and a
        # spec mount may cover any of them with something else.
        filesystem = syscalls.fstatfs(fd).type
        if filesystem != c.PROC_SUPER_MAGIC:
            raise ContainerError(f"{step.what}: {step.path} is not on procfs (filesystem type {filesystem:#x}, "
                                 f"procfs is {c.PROC_SUPER_MAGIC:#x}): refusing to write the sysctl there")
        syscalls.write(fd, step.value.encode())
    finally:
        syscalls.close(fd)


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
