"""The container's rootfs as an O_PATH descriptor: paths in it are opened with openat2(RESOLVE_IN_ROOT), not by name.

Why (CVE-2021-30465): a path resolved in userspace and then handed to mount(2) as a string is looked up again by
the kernel, and a symlink swapped in between (by a sibling container sharing a volume) sends the mount to the
host. Here the kernel opens every path relative to the rootfs descriptor, with RESOLVE_IN_ROOT (absolute symlinks
and ".." stay inside it) and RESOLVE_NO_MAGICLINKS (no /proc/PID/fd/N jump out of it); mount(2) is then pointed at
/proc/self/fd/N, the magic link of that O_PATH descriptor, which it follows to exactly the object opened.

Kernels before 5.6 have no openat2 (ENOSYS): there paths fall back to open(2) of the host path string and mounts to
that string, racy as every runtime was before openat2; securejoin's pre-check still refuses `..` escapes.
"""

import errno
import os
import posixpath
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from . import constants as c
from .errors import SyscallError
from .securejoin import relative_in_root, relative_in_root_found
from .syscalls import Syscalls

# How every path inside the rootfs is looked up.
IN_ROOT = c.RESOLVE_IN_ROOT | c.RESOLVE_NO_MAGICLINKS
# Modes of created mount points (before the umask), as runc's.
DIRECTORY_MODE = 0o755
FILE_MODE = 0o644
# How often a lookup that the kernel answers EAGAIN is tried before the EAGAIN is an error.
OPENAT2_ATTEMPTS = 32
# The errnos of a path that is not there: a missing entry, or a file where a directory should be.
_MISSING = (errno.ENOENT, errno.ENOTDIR)


def fd_path(fd: int) -> str:
    """The magic link of `fd`: mount(2) follows it to exactly the object the descriptor holds."""
    return f"/proc/self/fd/{fd}"


class Target:
    """A container path opened O_PATH: `fd` for fstat and fstatfs; `path` for mount(2): fd_path(fd), or the host
    path string on a kernel without openat2. (A plain class, not a record: one is made per mount call.)"""

    __slots__ = ("path", "fd")

    def __init__(self, path: str, fd: int) -> None:
        self.path = path
        self.fd = fd


class RootDir:
    """The rootfs at host path `path`, and race-free ways to open, create and mount onto paths inside it."""

    def __init__(self, syscalls: Syscalls, path: str) -> None:
        self.syscalls = syscalls
        self.path = path
        self.has_openat2 = True  # until the kernel answers ENOSYS
        self._fd: int | None = None
        self._kept: dict[str, int] = {}  # entries_in's directories, by relative path

    def fd(self) -> int:
        """The rootfs's O_PATH descriptor, opened at first use: the plan first binds the rootfs onto itself, and
        lookups must start on that bind mount, not on the directory it covers (mounts there would stay unseen)."""
        if self._fd is None:
            self._fd = self.syscalls.open(self.path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        return self._fd

    def close(self) -> None:
        self.forget_directories()
        if self._fd is not None:
            fd, self._fd = self._fd, None
            self.syscalls.close(fd)

    def resolve(self, container_path: str, what: str) -> str:
        """The pre-check: `container_path` resolved as it is now, relative to the rootfs; ContainerError naming
        `what` for a `..` that climbs out (openat2 would silently clamp it at the root)."""
        return relative_in_root(self.path, container_path, what)

    def resolve_existing(self, container_path: str, what: str) -> str | None:
        """resolve's answer, or None if the path does not exist now: masks and read-only paths skip those, as runc
        does, without an openat2 that fails (a mount of an absent path is never needed; procfs, where the masks are,
        cannot gain an entry in between)."""
        relative, found = relative_in_root_found(self.path, container_path, what)
        return relative if found else None

    def host_path(self, relative: str) -> str:
        return self.path if relative == "." else os.path.join(self.path, relative)

    def open(self, relative: str, flags: int, resolve: int = IN_ROOT, mode: int = 0) -> int:
        """openat2(rootfs fd, relative, flags|O_CLOEXEC, resolve); open(2) of the host path before Linux 5.6."""
        flags |= os.O_CLOEXEC
        if self.has_openat2:
            try:
                return self._openat2(relative, flags, mode, resolve)
            except SyscallError as error:
                if error.errno != errno.ENOSYS:
                    raise
                self.has_openat2 = False
        return self.syscalls.open(self.host_path(relative), flags, mode)

    def _openat2(self, relative: str, flags: int, mode: int, resolve: int) -> int:
        # EAGAIN: a rename or mount somewhere raced a ".." of the lookup, and the kernel could not prove that it
        # stayed inside the root; openat2(2) says to try again.
        for _ in range(OPENAT2_ATTEMPTS - 1):
            try:
                return self.syscalls.openat2(self.fd(), relative, flags, mode, resolve)
            except SyscallError as error:
                if error.errno != errno.EAGAIN:
                    raise
        return self.syscalls.openat2(self.fd(), relative, flags, mode, resolve)

    def entries_in(self, relative: str) -> int:
        """An O_PATH descriptor of the directory `relative` (made if missing) for creating entries in it, kept for the
        next call: the plan's mount points, device nodes and symlinks mostly go into /dev. A mount made through
        `target` drops the descriptors it may cover (its own path and below): those would hold the covered directory."""
        if relative == ".":
            return self.fd()
        fd = self._kept.get(relative)
        if fd is None:
            try:
                fd = self.open(relative, os.O_PATH | os.O_DIRECTORY)
            except SyscallError as error:
                if error.errno != errno.ENOENT:
                    raise
                self.make_dirs(relative)
                fd = self.open(relative, os.O_PATH | os.O_DIRECTORY)
            self._kept[relative] = fd
        return fd

    def forget_directories(self, under: str | None = None) -> None:
        """Close the descriptors entries_in keeps: all of them (before a mount on a host path or pivot_root), or
        those at or below the container path `under` (after a mount there)."""
        for relative in [kept for kept in self._kept
                         if under is None or kept == under or kept.startswith(under + "/") or under == "."]:
            self.syscalls.close(self._kept.pop(relative))

    @contextmanager
    def target(self, relative: str, missing_ok: bool = False,
               create: Callable[[], None] | None = None) -> Iterator[Target | None]:
        """`relative` opened O_PATH as a Target, closed on leaving. If it is missing: made by `create` and opened
        again, or None if `missing_ok`. Opening first spares the walk that `create` makes when, as mostly, the mount
        point exists already.

        Open it anew for each mount call: a descriptor opened before a mount holds the directory now covered, and a
        remount or propagation change through it would reach the wrong mount (EINVAL: not a mount's root).
        """
        try:
            fd = self.open(relative, os.O_PATH)
        except SyscallError as error:
            if error.errno not in _MISSING or not (missing_ok or create):
                raise
            fd = None
        if fd is None and create is not None:
            create()
            fd = self.open(relative, os.O_PATH)
        if fd is None:
            yield None
            return
        try:
            yield Target(fd_path(fd) if self.has_openat2 else self.host_path(relative), fd)
        finally:
            self.syscalls.close(fd)
            self.forget_directories(under=relative)  # the caller mounted there

    def make_dirs(self, relative: str) -> None:
        """mkdir -p inside the rootfs: mkdirat of the last component in its parent (entries_in: opened from the
        rootfs fd, made first the same way if missing); a path whose parent exists costs one open and one mkdirat."""
        relative = relative.strip("/")
        if relative in ("", "."):
            return
        parent, name = posixpath.dirname(relative) or ".", posixpath.basename(relative)
        try:
            self.syscalls.mkdirat(self.entries_in(parent), name, DIRECTORY_MODE)
        except SyscallError as error:
            if error.errno != errno.EEXIST:
                raise

    def make_file(self, relative: str) -> None:
        """Create an empty file (and its parents) unless something is there already."""
        parent, name = posixpath.dirname(relative) or ".", posixpath.basename(relative)
        try:
            # O_EXCL|O_NOFOLLOW: a symlink planted there is an existing entry, never followed to create a file.
            fd = self.syscalls.openat(self.entries_in(parent), name, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                                      | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
        except SyscallError as error:
            if error.errno != errno.EEXIST:
                raise
            return
        self.syscalls.close(fd)
