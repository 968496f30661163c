"""Idmapped bind mounts (runtime-spec 1.2 mounts[i].uidMappings/gidMappings), as runc 1.2 and crun make them.

The source is cloned detached with open_tree, the clone is given the id mapping of a user namespace with
mount_setattr(MOUNT_ATTR_IDMAP) (Linux 5.12), then moved onto the mount point opened under the rootfs. The user
namespace comes from a short-lived child that unshares one and whose maps the caller writes "containerID hostID
size", as the spec gives them (runc's userns.Handles does the same through a ptraced child): a file owned by
containerID on disk then shows as owned by hostID through the mount.
"""

import errno
import os
from collections.abc import Callable, Iterable

from . import constants as c
from .errors import ContainerError, SyscallError
from .fileio import write_once
from .mount_steps import IdmappedBind
from .rootfs_dir import RootDir
from .spec_linux import IdMapping
from .syscalls import Syscalls

# How a user namespace carrying the mappings is made: (syscalls, uid mappings, gid mappings) -> an O_RDONLY
# descriptor of it, owned by the caller. Injectable, so that tests against the recording fake do not fork.
UsernsMaker = Callable[[Syscalls, tuple[IdMapping, ...], tuple[IdMapping, ...]], int]


def apply_idmapped_bind(step: IdmappedBind, syscalls: Syscalls, root: RootDir, create: Callable[[str], None],
                        make_userns: "UsernsMaker | None" = None) -> None:
    """Mount `step` onto its container path: open_tree, mount_setattr(MOUNT_ATTR_IDMAP), move_mount. Every
    descriptor is closed on every path; refusals the kernel gives for a missing feature are explained."""
    userns = (make_userns or mapped_user_namespace)(syscalls, step.uid_mappings, step.gid_mappings)
    try:
        tree = _clone_tree(step, syscalls)
        try:
            _idmap(step, syscalls, tree, userns)
            relative = root.resolve(step.target, step.what)
            with root.target(relative, create=lambda: create(relative)) as target:
                syscalls.move_mount(tree, "", target.fd, "", c.MOVE_MOUNT_F_EMPTY_PATH | c.MOVE_MOUNT_T_EMPTY_PATH)
        finally:
            syscalls.close(tree)
    finally:
        syscalls.close(userns)


def _clone_tree(step: IdmappedBind, syscalls: Syscalls) -> int:
    flags = c.OPEN_TREE_CLONE | c.OPEN_TREE_CLOEXEC | (c.AT_RECURSIVE if step.recursive else 0)
    try:
        return syscalls.open_tree(c.AT_FDCWD, step.source, flags)
    except SyscallError as error:
        if error.errno == errno.ENOSYS:
            raise ContainerError(f"{step.what}: {step.mappings_path}: idmapped mounts need Linux 5.12 (mount_setattr; "
                                 f"this kernel lacks even open_tree)") from error
        raise


def _idmap(step: IdmappedBind, syscalls: Syscalls, tree: int, userns: int) -> None:
    try:
        syscalls.mount_setattr(tree, "", c.AT_EMPTY_PATH | (c.AT_RECURSIVE if step.recursive else 0),
                               attr_set=c.MOUNT_ATTR_IDMAP, userns_fd=userns)
    except SyscallError as error:
        if error.errno == errno.ENOSYS:
            raise ContainerError(f"{step.what}: {step.mappings_path}: idmapped mounts need Linux 5.12 "
                                 "(mount_setattr)") from error
        if error.errno == errno.EINVAL:
            raise ContainerError(f"{step.what}: the filesystem of {step.source} cannot be idmapped on this kernel "
                                 f"(EINVAL): {error}") from error
        raise


def mapped_user_namespace(syscalls: Syscalls, uid_mappings: tuple[IdMapping, ...],
                          gid_mappings: tuple[IdMapping, ...]) -> int:
    """An O_RDONLY|O_CLOEXEC descriptor of a new user namespace whose uid_map and gid_map hold the mappings as
    written. A forked child unshares it and blocks on a pipe until the maps are written and the namespace opened;
    then the pipe closes, the child exits and is reaped. Only for a single-threaded caller (the container's init)."""
    ready_read, ready_write = os.pipe2(os.O_CLOEXEC)
    hold_read, hold_write = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's own exit code tells what happened
        os.close(ready_read)
        os.close(hold_write)  # else the child holds its own pipe open and never sees the parent close it
        _hold_user_namespace(syscalls, ready_write, hold_read)
    os.close(ready_write)
    os.close(hold_read)
    try:
        status = os.read(ready_read, 64)
        if not status.startswith(b"ok "):
            code = int(status or b"0")
            raise ContainerError(f"unshare(CLONE_NEWUSER) for an idmapped mount failed: "
                                 f"{os.strerror(code) if code else 'the helper process died'}")
        # The child's pid as the mounted /proc numbers it: before pivot_root, the init in a new pid namespace
        # still sees the host's /proc, where `pid` would name another process.
        proc = f"/proc/{int(status[3:])}"
        write_once(f"{proc}/uid_map", _map_lines(uid_mappings))
        write_once(f"{proc}/setgroups", "deny")  # as Go's GidMappingsEnableSetgroups=false in runc; not needed, harmless
        write_once(f"{proc}/gid_map", _map_lines(gid_mappings))
        return os.open(f"{proc}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(ready_read)
        os.close(hold_write)  # the child's read returns: it exits
        os.waitpid(pid, 0)


def _hold_user_namespace(syscalls: Syscalls, ready: int, hold: int) -> None:  # pragma: no cover - runs in the child
    code = 1
    try:
        try:
            syscalls.unshare(c.CLONE_NEWUSER)
        except OSError as error:
            os.write(ready, str(error.errno or 0).encode())
            return
        os.write(ready, b"ok " + os.readlink("/proc/self").encode())
        os.read(hold, 1)  # until the parent closes its end
        code = 0
    finally:
        os._exit(code)


def _map_lines(mappings: Iterable[IdMapping]) -> str:
    return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in mappings)
