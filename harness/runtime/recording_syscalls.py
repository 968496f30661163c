"""RecordingSyscalls: a fake syscall seam that records calls and returns canned results, for tests without root."""

import itertools
from collections.abc import Callable

from . import constants as c
from .errors import SyscallError
from .syscalls import CapabilitySets, CloneResult, Syscalls

# A canned result: a value, or a function of the call's arguments tuple.
Result = object | Callable[[tuple], object]

# The pid the fake's clone3 reports by default: a parent-side result, so code under test never runs the child branch
# unless a test asks for it with set_result("clone3", CloneResult(pid=0)).
FAKE_CHILD_PID = 4242


class RecordingSyscalls(Syscalls):
    """Records each call as (name, arguments) in `calls`; returns set_result() values; raises what fail() asks.

    Arguments are recorded exactly as the real seam would pass them to SyscallError, so flag arguments compare
    equal to plain ints (`("umount2", ("/old", MNT_DETACH))`) and print as names in assertion diffs.
    File descriptors handed out by open, open_tree, pidfd_open, bpf_prog_load and clone3 are fake numbers from 1000
    up.
    """

    def __init__(self, results: dict[str, Result] | None = None) -> None:
        super().__init__(machine="x86_64")
        self.calls: list[tuple[str, tuple]] = []
        self._fake_fds = itertools.count(1000)
        self._results: dict[str, Result] = {
            "open": lambda arguments: next(self._fake_fds),
            "open_tree": lambda arguments: next(self._fake_fds),
            "pidfd_open": lambda arguments: next(self._fake_fds),
            "bpf_prog_load": lambda arguments: next(self._fake_fds),
            "bpf_prog_query": [],
            "clone3": self._default_clone3,
            "prctl": 0,
            "capget": CapabilitySets(0, 0, 0),
        }
        self._failures: list[tuple[str, int, Callable[[tuple], bool] | None]] = []
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

    def _invoke(self, name: str, arguments: tuple, call: Callable[[], object]) -> object:
        # `call` would reach the kernel: the fake never runs it.
        self.calls.append((name, arguments))
        for failing, errno, when in self._failures:
            if failing == name and (when is None or when(arguments)):
                raise SyscallError(name, arguments, errno)
        result = self._results.get(name)
        return result(arguments) if callable(result) else result

    def _default_clone3(self, arguments: tuple) -> CloneResult:
        flags = arguments[0]
        return CloneResult(pid=FAKE_CHILD_PID, pidfd=next(self._fake_fds) if flags & c.CLONE_PIDFD else None)

    @staticmethod
    def _require_known(name: str) -> None:
        # A typo in a test ("mount_set_attr") would otherwise configure nothing and pass silently.
        if name.startswith("_") or not callable(getattr(Syscalls, name, None)):
            raise ValueError(f"{name!r} is not a method of Syscalls")
