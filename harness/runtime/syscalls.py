"""The syscall seam: every kernel call of the runtime goes through Syscalls, which tests replace by a recording fake."""

import ctypes
import errno
import functools
import os
import resource
import signal
from collections.abc import Callable

from . import constants as c
from .errors import SyscallError
from .record import record
# Flags, Constant, Octal, Hex, OPEN_FLAG_NAMES and StatFs are imported from here too: they were defined here first.
from .syscall_args import Constant, Flags, Hex, Octal, dirfd_argument as _dirfd, flags as _flags  # noqa: F401
from .syscalls_bpf import BpfSyscalls
from .syscalls_sched import SchedSyscalls
from .syscalls_seccomp import SeccompSyscalls
from .syscalls_files import OPEN_FLAG_NAMES, FileSyscalls, PathArg, StatFs, _fstatfs  # noqa: F401

# clone3 flags that make the child share the parent's memory or stack: Python cannot survive that.
_UNSAFE_CLONE_FLAGS = c.CLONE_VM | c.CLONE_THREAD | c.CLONE_SIGHAND | c.CLONE_SETTLS | c.CLONE_VFORK


@record(frozen=True)
class CloneResult:
    """What clone3 returns: pid 0 in the child; in the parent the child's pid, and its pidfd if CLONE_PIDFD."""

    pid: int
    pidfd: int | None = None

    @property
    def in_child(self) -> bool:
        return self.pid == 0


@record(frozen=True)
class CapabilitySets:
    """A thread's capability sets as 64-bit masks, bit N being capability number N (see constants.CAPABILITIES)."""

    effective: int
    permitted: int
    inheritable: int


class _CloneArgs(ctypes.Structure):
    """struct clone_args up to `cgroup` (CLONE_ARGS_SIZE_VER2, 88 bytes, Linux 5.7)."""

    _fields_ = [(name, ctypes.c_uint64) for name in (
        "flags", "pidfd", "child_tid", "parent_tid", "exit_signal", "stack", "stack_size",
        "tls", "set_tid", "set_tid_size", "cgroup")]


class _MountAttr(ctypes.Structure):
    """struct mount_attr (MOUNT_ATTR_SIZE_VER0, 32 bytes)."""

    _fields_ = [(name, ctypes.c_uint64) for name in ("attr_set", "attr_clr", "propagation", "userns_fd")]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


@functools.cache
def _libc() -> ctypes.CDLL:
    """The process's libc, with the prototypes of the wrappers we call (variadic `syscall` stays untyped)."""
    libc = ctypes.CDLL(None, use_errno=True)
    char_p, c_int, c_ulong = ctypes.c_char_p, ctypes.c_int, ctypes.c_ulong
    libc.mount.argtypes = [char_p, char_p, char_p, c_ulong, char_p]
    libc.umount2.argtypes = [char_p, c_int]
    libc.unshare.argtypes = [c_int]
    libc.setns.argtypes = [c_int, c_int]
    libc.sethostname.argtypes = [char_p, ctypes.c_size_t]
    libc.setdomainname.argtypes = [char_p, ctypes.c_size_t]
    libc.prctl.argtypes = [c_int, c_ulong, c_ulong, c_ulong, c_ulong]
    libc.capget.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    libc.capset.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    libc.personality.argtypes = [c_ulong]
    libc.syscall.restype = ctypes.c_long
    return libc


@functools.cache
def _syscall_holding_gil() -> Callable[..., int]:
    """libc's syscall() called with the GIL held, so the clone3 child cannot inherit a GIL another thread holds."""
    function = ctypes.PyDLL(None, use_errno=True).syscall
    function.restype = ctypes.c_long
    return function


@functools.cache
def _c_long(number: int) -> ctypes.c_long:
    """A syscall number as the C long that syscall(2) reads (a plain int would leave the register's upper half
    undefined), made once per number."""
    return ctypes.c_long(number)


def _path(value: PathArg | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


class Syscalls(FileSyscalls, BpfSyscalls, SeccompSyscalls, SchedSyscalls):
    """Real system calls via ctypes. Every method raises SyscallError (an OSError) naming the call on failure."""

    def __init__(self, machine: str | None = None) -> None:
        self.machine = machine or os.uname().machine

    # -- plumbing -------------------------------------------------------------------------------

    @staticmethod
    def resolve_functions() -> None:
        """Look the C functions up now (dlopen, dlsym, prototypes), before the runtime forks: else every child does it
        again at its first call, and under emulation that cost as much as the rest of its mount plan."""
        _libc()
        _fstatfs()
        _syscall_holding_gil()

    def _invoke(self, name: str, arguments: tuple, call: Callable[[], object]) -> object:
        """Run one call; RecordingSyscalls overrides this single point to record instead."""
        return call()

    @staticmethod
    def _check(name: str, arguments: tuple, result: int) -> int:
        if result == -1:
            raise SyscallError(name, arguments, ctypes.get_errno())
        return result

    def _number(self, name: str, arguments: tuple) -> int:
        numbers = c.SYSCALL_NUMBERS.get(self.machine, {})
        if name not in numbers:
            # Same errno the kernel gives for a missing syscall, so feature probes treat both alike.
            raise SyscallError(name, arguments, errno.ENOSYS)
        return numbers[name]

    def _raw(self, name: str, arguments: tuple, *c_arguments: object) -> int:
        return self._check(name, arguments, _libc().syscall(_c_long(self._number(name, arguments)), *c_arguments))

    # -- namespaces -----------------------------------------------------------------------------

    def unshare(self, flags: int) -> None:
        arguments = (Flags(flags, c.CLONE_FLAG_NAMES),)
        self._invoke("unshare", arguments, lambda: self._check("unshare", arguments, _libc().unshare(flags)))

    def setns(self, fd: int, nstype: int = 0) -> None:
        arguments = (fd, Flags(nstype, c.CLONE_FLAG_NAMES))
        self._invoke("setns", arguments, lambda: self._check("setns", arguments, _libc().setns(fd, nstype)))

    def sethostname(self, name: str) -> None:
        encoded = name.encode()
        arguments = (name,)
        self._invoke("sethostname", arguments,
                     lambda: self._check("sethostname", arguments, _libc().sethostname(encoded, len(encoded))))

    def link_up(self, name: str) -> None:
        """ioctl(SIOCGIFFLAGS / SIOCSIFFLAGS) on a datagram socket: set IFF_UP on interface `name`. Through libc
        only: in the container's init no module may be imported (a user namespace may not read the stdlib)."""
        arguments = (name,)

        def call() -> None:
            libc = _libc()
            sock = self._check("socket", arguments, libc.socket(2, 2, 0))  # AF_INET, SOCK_DGRAM
            try:
                request = ctypes.create_string_buffer(name.encode(), 40)  # struct ifreq: name[16], flags at 16
                self._check("ioctl(SIOCGIFFLAGS)", arguments, libc.ioctl(sock, 0x8913, request))
                flags = ctypes.c_short.from_buffer(request, 16)
                flags.value |= 0x1  # IFF_UP
                self._check("ioctl(SIOCSIFFLAGS)", arguments, libc.ioctl(sock, 0x8914, request))
            finally:
                os.close(sock)
        self._invoke("link_up", arguments, call)

    def setdomainname(self, name: str) -> None:
        encoded = name.encode()
        arguments = (name,)
        self._invoke("setdomainname", arguments,
                     lambda: self._check("setdomainname", arguments, _libc().setdomainname(encoded, len(encoded))))

    # -- processes ------------------------------------------------------------------------------

    def clone3(self, flags: int = 0, *, exit_signal: int = signal.SIGCHLD, cgroup_fd: int | None = None) -> CloneResult:
        """Fork-like clone3 (no shared memory or stack); with cgroup_fd the child starts in that cgroup.

        Returns in both processes, as os.fork does: `in_child` tells which. The child must leave through
        os._exit or exec, never by returning into the caller's frames (a test runner would run twice).
        """
        if flags & _UNSAFE_CLONE_FLAGS:
            raise ValueError(f"clone3 flags {Flags(flags & _UNSAFE_CLONE_FLAGS, c.CLONE_FLAG_NAMES)!r} "
                             "would share memory or stack with the Python parent")
        if cgroup_fd is not None:
            flags |= c.CLONE_INTO_CGROUP
        arguments = (Flags(flags, c.CLONE_FLAG_NAMES), Constant(exit_signal, {exit_signal: _signal_name(exit_signal)}),
                     cgroup_fd)
        return self._invoke("clone3", arguments, lambda: self._clone3(arguments, flags, exit_signal, cgroup_fd))

    def _clone3(self, arguments: tuple, flags: int, exit_signal: int, cgroup_fd: int | None) -> CloneResult:
        number = self._number("clone3", arguments)
        pidfd = ctypes.c_int(-1)
        clone_args = _CloneArgs(flags=flags, exit_signal=exit_signal, cgroup=cgroup_fd or 0)
        if flags & c.CLONE_PIDFD:
            clone_args.pidfd = ctypes.addressof(pidfd)
        # The same bracket os.fork() uses, so the interpreter's locks and threading state survive in the child.
        ctypes.pythonapi.PyOS_BeforeFork()
        result = _syscall_holding_gil()(ctypes.c_long(number), ctypes.byref(clone_args),
                                        ctypes.c_size_t(ctypes.sizeof(clone_args)))
        if result == 0:
            ctypes.pythonapi.PyOS_AfterFork_Child()
            return CloneResult(pid=0)
        failure = ctypes.get_errno()
        ctypes.pythonapi.PyOS_AfterFork_Parent()
        if result == -1:
            raise SyscallError("clone3", arguments, failure)
        return CloneResult(pid=result, pidfd=pidfd.value if flags & c.CLONE_PIDFD else None)

    def pidfd_open(self, pid: int, flags: int = 0) -> int:
        arguments = (pid, flags)
        return self._invoke("pidfd_open", arguments, lambda: self._raw(
            "pidfd_open", arguments, ctypes.c_int(pid), ctypes.c_uint(flags)))

    def pidfd_send_signal(self, pidfd: int, signum: int, flags: int = 0) -> None:
        arguments = (pidfd, Constant(signum, {signum: _signal_name(signum)}), flags)
        self._invoke("pidfd_send_signal", arguments, lambda: self._raw(
            "pidfd_send_signal", arguments, ctypes.c_int(pidfd), ctypes.c_int(signum), None, ctypes.c_uint(flags)))

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        arguments = (Constant(option, c.PRCTL_OPTION_NAMES), arg2, arg3, arg4, arg5)
        return self._invoke("prctl", arguments, lambda: self._check(
            "prctl", arguments, _libc().prctl(option, arg2, arg3, arg4, arg5)))

    def capget(self, pid: int = 0) -> CapabilitySets:
        arguments = (pid,)
        return self._invoke("capget", arguments, lambda: self._capget(arguments, pid))

    def _capget(self, arguments: tuple, pid: int) -> CapabilitySets:
        header = _CapHeader(version=c.LINUX_CAPABILITY_VERSION_3, pid=pid)
        data = (_CapData * 2)()
        self._check("capget", arguments, _libc().capget(ctypes.byref(header), data))
        return CapabilitySets(*(getattr(data[0], name) | getattr(data[1], name) << 32
                                for name in ("effective", "permitted", "inheritable")))

    def capset(self, sets: CapabilitySets) -> None:
        """Set the calling thread's capability sets."""
        arguments = (Hex(sets.effective), Hex(sets.permitted), Hex(sets.inheritable))
        self._invoke("capset", arguments, lambda: self._capset(arguments, sets))

    def _capset(self, arguments: tuple, sets: CapabilitySets) -> None:
        header = _CapHeader(version=c.LINUX_CAPABILITY_VERSION_3, pid=0)
        data = (_CapData * 2)()
        for half in (0, 1):
            for name in ("effective", "permitted", "inheritable"):
                setattr(data[half], name, getattr(sets, name) >> (32 * half) & 0xFFFFFFFF)
        self._check("capset", arguments, _libc().capset(ctypes.byref(header), data))

    # -- identity, limits and exec of the container process ---------------------------------------

    def setgroups(self, gids: tuple[int, ...]) -> None:
        arguments = (tuple(gids),)
        self._invoke("setgroups", arguments, lambda: self._os_call("setgroups", arguments, os.setgroups, list(gids)))

    def setresgid(self, rgid: int, egid: int, sgid: int) -> None:
        arguments = (rgid, egid, sgid)
        self._invoke("setresgid", arguments, lambda: self._os_call("setresgid", arguments, os.setresgid, *arguments))

    def setresuid(self, ruid: int, euid: int, suid: int) -> None:
        arguments = (ruid, euid, suid)
        self._invoke("setresuid", arguments, lambda: self._os_call("setresuid", arguments, os.setresuid, *arguments))

    def setrlimit(self, resource_number: int, soft: int, hard: int) -> None:
        """prlimit(0, ...) on the calling process; 2**64-1 (RLIM_INFINITY) means unlimited."""
        arguments = (Constant(resource_number, _RLIMIT_NAMES), soft, hard)
        self._invoke("setrlimit", arguments, lambda: self._os_call(
            "setrlimit", arguments, resource.prlimit, 0, resource_number, (_rlim(soft), _rlim(hard))))

    def umask(self, mask: int) -> int:
        """Set the calling process's umask; returns the previous one (umask(2) cannot fail)."""
        arguments = (Octal(mask),)
        return self._invoke("umask", arguments, lambda: os.umask(mask))

    def chdir(self, path: PathArg) -> None:
        arguments = (path,)
        self._invoke("chdir", arguments, lambda: self._os_call("chdir", arguments, os.chdir, path))

    def chroot(self, path: PathArg) -> None:
        arguments = (path,)
        self._invoke("chroot", arguments, lambda: self._os_call("chroot", arguments, os.chroot, path))

    def execve(self, path: PathArg, argv: tuple[str, ...], env: tuple[str, ...]) -> None:
        """Replace the process image; returns only on the fake (and raises SyscallError on failure)."""
        arguments = (path, tuple(argv), tuple(env))
        environment = dict(entry.split("=", 1) for entry in env)
        self._invoke("execve", arguments, lambda: self._os_call("execve", arguments, os.execve, path, list(argv),
                                                                environment))

    @staticmethod
    def _os_call(name: str, arguments: tuple, function: Callable, *args: object, **kwargs: object) -> object:
        try:
            return function(*args, **kwargs)
        except OSError as error:
            raise SyscallError(name, arguments, error.errno) from error

    # -- mounts ---------------------------------------------------------------------------------

    def mount(self, source: PathArg | None, target: PathArg, fstype: str | None, flags: int = 0,
              data: str | None = None) -> None:
        arguments = (source, target, fstype, _flags(flags, c.MOUNT_FLAG_NAMES), data)
        self._invoke("mount", arguments, lambda: self._check("mount", arguments, _libc().mount(
            _path(source), _path(target), _path(fstype), flags, _path(data))))

    def umount2(self, target: PathArg, flags: int = 0) -> None:
        arguments = (target, _flags(flags, c.UMOUNT_FLAG_NAMES))
        self._invoke("umount2", arguments, lambda: self._check("umount2", arguments, _libc().umount2(
            _path(target), flags)))

    def pivot_root(self, new_root: PathArg, put_old: PathArg) -> None:
        arguments = (new_root, put_old)
        self._invoke("pivot_root", arguments, lambda: self._raw(
            "pivot_root", arguments, ctypes.c_char_p(_path(new_root)), ctypes.c_char_p(_path(put_old))))

    def open_tree(self, dirfd: int, path: PathArg, flags: int = 0) -> int:
        arguments = (_dirfd(dirfd), path, Flags(flags, c.OPEN_TREE_FLAG_NAMES))
        return self._invoke("open_tree", arguments, lambda: self._raw(
            "open_tree", arguments, ctypes.c_int(dirfd), ctypes.c_char_p(_path(path)), ctypes.c_uint(flags)))

    def move_mount(self, from_dirfd: int, from_path: PathArg, to_dirfd: int, to_path: PathArg,
                   flags: int = 0) -> None:
        arguments = (_dirfd(from_dirfd), from_path, _dirfd(to_dirfd), to_path, Flags(flags, c.MOVE_MOUNT_FLAG_NAMES))
        self._invoke("move_mount", arguments, lambda: self._raw(
            "move_mount", arguments, ctypes.c_int(from_dirfd), ctypes.c_char_p(_path(from_path)),
            ctypes.c_int(to_dirfd), ctypes.c_char_p(_path(to_path)), ctypes.c_uint(flags)))

    def mount_setattr(self, dirfd: int, path: PathArg, flags: int = 0, *, attr_set: int = 0, attr_clr: int = 0,
                      propagation: int = 0, userns_fd: int = 0) -> None:
        """Change mount attributes (Linux 5.12); `propagation`: 0, MS_PRIVATE, MS_SLAVE, MS_SHARED or MS_UNBINDABLE."""
        arguments = (_dirfd(dirfd), path, Flags(flags, c.AT_FLAG_NAMES), Flags(attr_set, c.MOUNT_ATTR_NAMES),
                     Flags(attr_clr, c.MOUNT_ATTR_NAMES), Flags(propagation, c.MOUNT_FLAG_NAMES), userns_fd)
        attr = _MountAttr(attr_set=attr_set, attr_clr=attr_clr, propagation=propagation, userns_fd=userns_fd)
        self._invoke("mount_setattr", arguments, lambda: self._raw(
            "mount_setattr", arguments, ctypes.c_int(dirfd), ctypes.c_char_p(_path(path)), ctypes.c_uint(flags),
            ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr))))


_RLIMIT_NAMES = {number: name for name, number in c.RLIMITS.items()}


def _rlim(value: int) -> int:
    # The OCI spec writes unlimited as 2**64-1; the resource module wants its own RLIM_INFINITY (-1).
    return resource.RLIM_INFINITY if value >= 2**64 - 1 else value


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)
