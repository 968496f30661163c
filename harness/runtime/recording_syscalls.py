"""RecordingSyscalls: a fake syscall seam that records calls and returns canned results, for tests without root."""

import itertools
import os
import stat
from collections.abc import Callable

from . import constants as c
from .errors import SyscallError
from .syscalls import CapabilitySets, CloneResult, StatFs, Syscalls

# A canned result: a value, or a function of the call's arguments tuple.
Result = object | Callable[[tuple], object]

# The pid the fake's clone3 reports by default: a parent-side result, so code under test never runs the child branch
# unless a test asks for it with set_result("clone3", CloneResult(pid=0)).
FAKE_CHILD_PID = 4242
# The calls that hand out a descriptor, and where their path argument is: path_of(fd) tells what a fake fd is.
_OPENING_CALLS = {"open": 0, "openat": 1, "openat2": 1, "open_tree": 1}


def fake_stat(mode: int, rdev: int = 0) -> os.stat_result:
    """A stat result with just a mode (S_IFDIR | 0o755, ...) and a device number, for the fake's fstat."""
    return os.stat_result((mode, 0, 0, 1, 0, 0, 0, 0, 0, 0), {"st_rdev": rdev})


# What the fake's fstat reports unless a test says otherwise: the null device, so a mask binds it without fuss.
NULL_DEVICE_STAT = fake_stat(stat.S_IFCHR | 0o666, os.makedev(1, 3))


class RecordingSyscalls(Syscalls):
    """Records each call as (name, arguments) in `calls`; returns set_result() values; raises what fail() asks.

    Arguments are recorded exactly as the real seam would pass them to SyscallError, so flag arguments compare
    equal to plain ints (`("umount2", ("/old", MNT_DETACH))`) and print as names in assertion diffs.
    File descriptors handed out by open, openat, openat2, open_tree, pidfd_open, bpf_prog_load and clone3 are fake
    numbers from 1000 up (path_of names what one was opened as). fstat reports the null device, fstatfs a filesystem
    of type 0 without flags, write the whole buffer written.
    """

    def __init__(self, results: dict[str, Result] | None = None) -> None:
        super().__init__(machine="x86_64")
        self.calls: list[tuple[str, tuple]] = []
        self._fake_fds = itertools.count(1000)
        self._results: dict[str, Result] = {
            "open": lambda arguments: next(self._fake_fds),
            "openat": lambda arguments: next(self._fake_fds),
            "openat2": lambda arguments: next(self._fake_fds),
            "fstat": NULL_DEVICE_STAT,
            "fstatfs": StatFs(type=0, flags=0),
            "write": lambda arguments: len(arguments[1]),
            "open_tree": lambda arguments: next(self._fake_fds),
            "pidfd_open": lambda arguments: next(self._fake_fds),
            "bpf_prog_load": lambda arguments: next(self._fake_fds),
            "bpf_prog_query": [],
            "clone3": self._default_clone3,
            "prctl": 0,
            "capget": CapabilitySets(0, 0, 0),
        }
        self._failures: list[tuple[str, int, Callable[[tuple], bool] | None]] = []
        self._opened: dict[int, str] = {}
        for name, result in (results or {}).items():
            self.set_result(name, result)

    def set_result(self, name: str, result: Result) -> None:
        """Make every later call of `name` return `result` (or `result(arguments)` if it is callable)."""
        self._require_known(name)
        self._results[name] = result

    def fail(self, name: str, errno: int, when: Callable[[tuple], bool] | None = None) -> None:
        """Make later calls of `name` raise SyscallError(errno); with `when`, only calls whose arguments match."""
        self._require_known(name)
        self._failures.append((name, errno, when))

    def names(self) -> list[str]:
        """The names of the calls made so far, in order."""
        return [name for name, _ in self.calls]

    def arguments_of(self, name: str) -> list[tuple]:
        """The arguments of each call of `name`, in order."""
        return [arguments for called, arguments in self.calls if called == name]

    def path_of(self, fd: int) -> str | None:
        """The path argument of the open, openat, openat2 or open_tree call that returned `fd`, if one did."""
        return self._opened.get(fd)

    def _invoke(self, name: str, arguments: tuple, call: Callable[[], object]) -> object:
        # `call` would reach the kernel: the fake never runs it.
        self.calls.append((name, arguments))
        for failing, errno, when in self._failures:
            if failing == name and (when is None or when(arguments)):
                raise SyscallError(name, arguments, errno)
        result = self._results.get(name)
        result = result(arguments) if callable(result) else result
        if name in _OPENING_CALLS and isinstance(result, int):
            self._opened[result] = arguments[_OPENING_CALLS[name]]
        return result

    def _default_clone3(self, arguments: tuple) -> CloneResult:
        flags = arguments[0]
        return CloneResult(pid=FAKE_CHILD_PID, pidfd=next(self._fake_fds) if flags & c.CLONE_PIDFD else None)

    @staticmethod
    def _require_known(name: str) -> None:
        # A typo in a test ("mount_set_attr") would otherwise configure nothing and pass silently.
        if name.startswith("_") or not callable(getattr(Syscalls, name, None)):
            raise ValueError(f"{name!r} is not a method of Syscalls")
