"""The file part of the syscall seam: open, openat2, the *at calls, fstat and fstatfs on (O_PATH) descriptors."""

import ctypes
import functools
import os
from collections.abc import Callable

from . import constants as c
from .syscall_args import dirfd_argument, flags as _flags, octal as _octal

PathArg = str | bytes

OPEN_FLAG_NAMES = {
    getattr(os, name): name
    for name in ("O_WRONLY", "O_RDWR", "O_CREAT", "O_EXCL", "O_NOCTTY", "O_TRUNC", "O_APPEND",
                 "O_NONBLOCK", "O_DIRECTORY", "O_NOFOLLOW", "O_CLOEXEC", "O_PATH")
    if hasattr(os, name)
}


class StatFs(tuple):
    """What fstatfs reports that the runtime reads: the filesystem's magic number, and its ST_* mount flags. (A
    tuple, not a record: the mount plan makes several per container, and a record's generic __init__ costs more.)"""

    __slots__ = ()

    def __new__(cls, type: int, flags: int) -> "StatFs":  # noqa: A002 (the field's name, as in struct statfs)
        return tuple.__new__(cls, (type, flags))

    def __getnewargs__(self) -> tuple[int, int]:
        return tuple(self)

    type = property(lambda self: self[0], doc="the filesystem's magic number (f_type)")
    flags = property(lambda self: self[1], doc="its ST_* mount flags (f_flags)")

    def __repr__(self) -> str:
        return f"StatFs(type={self[0]:#x}, flags={self[1]:#x})"


class _OpenHow(ctypes.Structure):
    """struct open_how (OPEN_HOW_SIZE_VER0, 24 bytes, Linux 5.6)."""

    _fields_ = [(name, ctypes.c_uint64) for name in ("flags", "mode", "resolve")]


class _StatFs(ctypes.Structure):
    """struct statfs of the 64-bit ABIs (x86_64, aarch64): 64-bit words, but f_fsid (two ints)."""

    _fields_ = [("f_type", ctypes.c_long), ("f_bsize", ctypes.c_long), ("f_blocks", ctypes.c_uint64),
                ("f_bfree", ctypes.c_uint64), ("f_bavail", ctypes.c_uint64), ("f_files", ctypes.c_uint64),
                ("f_ffree", ctypes.c_uint64), ("f_fsid", ctypes.c_int * 2), ("f_namelen", ctypes.c_long),
                ("f_frsize", ctypes.c_long), ("f_flags", ctypes.c_long), ("f_spare", ctypes.c_long * 4)]


_OPEN_HOW_SIZE = ctypes.c_size_t(ctypes.sizeof(_OpenHow))


@functools.cache
def _open_how(flags: int, mode: int, resolve: int):  # a ctypes byref() object
    """A pointer to the open_how of these arguments, made once: the kernel only reads it."""
    return ctypes.byref(_OpenHow(flags=flags, mode=mode, resolve=resolve))


@functools.cache
def _fstatfs() -> Callable[..., int]:
    function = ctypes.CDLL(None, use_errno=True).fstatfs
    function.argtypes = [ctypes.c_int, ctypes.POINTER(_StatFs)]
    return function


def _at(dirfd: int) -> int | None:
    """The dir_fd the os module takes for `dirfd`: None for AT_FDCWD."""
    return None if dirfd == c.AT_FDCWD else dirfd


class FileSyscalls:
    """Mixed into Syscalls: each method goes through its _invoke, _raw and _os_call, so the recording fake sees it."""

    def open(self, path: PathArg, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        """os.open through the seam, so code that opens namespace files can run against the fake."""
        arguments = (path, _flags(flags, OPEN_FLAG_NAMES), _octal(mode))
        return self._invoke("open", arguments, lambda: self._os_call("open", arguments, os.open, path, flags, mode,
                                                                     dir_fd=dir_fd))

    def openat(self, dirfd: int, path: PathArg, flags: int, mode: int = 0o777) -> int:
        arguments = (dirfd_argument(dirfd), path, _flags(flags, OPEN_FLAG_NAMES), _octal(mode))
        return self._invoke("openat", arguments, lambda: self._os_call("openat", arguments, os.open, path, flags,
                                                                       mode, dir_fd=_at(dirfd)))

    def openat2(self, dirfd: int, path: PathArg, flags: int, mode: int = 0, resolve: int = 0) -> int:
        """openat(2) with `resolve` restricting the lookup (RESOLVE_IN_ROOT, ...; Linux 5.6, ENOSYS before)."""
        arguments = (dirfd_argument(dirfd), path, _flags(flags, OPEN_FLAG_NAMES), _octal(mode),
                     _flags(resolve, c.RESOLVE_FLAG_NAMES))
        # Plain ints and bytes where the C type allows: ctypes converts those in C, faster than c_int() objects
        # (the kernel reads only the low 32 bits of an int argument, whatever the register's upper half holds).
        how = _open_how(flags, mode, resolve)
        return self._invoke("openat2", arguments, lambda: self._raw(
            "openat2", arguments, dirfd, os.fsencode(path), how, _OPEN_HOW_SIZE))

    def mkdirat(self, dirfd: int, path: PathArg, mode: int = 0o755) -> None:
        arguments = (dirfd_argument(dirfd), path, _octal(mode))
        self._invoke("mkdirat", arguments, lambda: self._os_call("mkdirat", arguments, os.mkdir, path, mode,
                                                                 dir_fd=_at(dirfd)))

    def mknod(self, path: PathArg, mode: int, device: int) -> None:
        arguments = (path, _octal(mode), device)
        self._invoke("mknod", arguments, lambda: self._os_call("mknod", arguments, os.mknod, path, mode, device))

    def mknodat(self, dirfd: int, path: PathArg, mode: int, device: int) -> None:
        arguments = (dirfd_argument(dirfd), path, _octal(mode), device)
        self._invoke("mknodat", arguments, lambda: self._os_call("mknodat", arguments, os.mknod, path, mode, device,
                                                                 dir_fd=_at(dirfd)))

    def symlinkat(self, target: PathArg, dirfd: int, linkpath: PathArg) -> None:
        arguments = (target, dirfd_argument(dirfd), linkpath)
        self._invoke("symlinkat", arguments, lambda: self._os_call("symlinkat", arguments, os.symlink, target,
                                                                   linkpath, dir_fd=_at(dirfd)))

    def unlinkat(self, dirfd: int, path: PathArg) -> None:
        """unlinkat without AT_REMOVEDIR: removes a file, symlink or node, never a directory."""
        arguments = (dirfd_argument(dirfd), path)
        self._invoke("unlinkat", arguments, lambda: self._os_call("unlinkat", arguments, os.unlink, path,
                                                                  dir_fd=_at(dirfd)))

    def fstat(self, fd: int) -> os.stat_result:
        """fstat(2); on an O_PATH descriptor (Linux 3.6) it describes the object the descriptor holds."""
        arguments = (fd,)
        return self._invoke("fstat", arguments, lambda: self._os_call("fstat", arguments, os.fstat, fd))

    def fstatfs(self, fd: int) -> StatFs:
        """fstatfs(2) (on an O_PATH descriptor since Linux 3.12): the filesystem's type and mount flags."""
        arguments = (fd,)
        return self._invoke("fstatfs", arguments, lambda: self._fstatfs(arguments, fd))

    def _fstatfs(self, arguments: tuple, fd: int) -> StatFs:
        buffer = _StatFs()
        self._check("fstatfs", arguments, _fstatfs()(fd, ctypes.byref(buffer)))
        return StatFs(type=buffer.f_type, flags=buffer.f_flags)

    def write(self, fd: int, data: bytes) -> int:
        arguments = (fd, data)
        return self._invoke("write", arguments, lambda: self._os_call("write", arguments, os.write, fd, data))

    def close(self, fd: int) -> None:
        arguments = (fd,)
        self._invoke("close", arguments, lambda: self._os_call("close", arguments, os.close, fd))
