"""The scheduling part of the syscall seam: personality, ioprio_set, sched_setattr, sched_setaffinity."""

import ctypes
import os

from . import constants as c
from .syscall_args import Constant, Flags, Hex

_POLICY_NAMES = {number: name for name, number in c.SCHED_POLICIES.items()}
_SCHED_FLAG_NAMES = {number: name for name, number in c.SCHED_FLAGS.items()}
_IOPRIO_WHO_NAMES = {c.IOPRIO_WHO_PROCESS: "IOPRIO_WHO_PROCESS"}


class _SchedAttr(ctypes.Structure):
    """struct sched_attr up to sched_period (SCHED_ATTR_SIZE_VER0, 48 bytes, Linux 3.14)."""

    _fields_ = [("size", ctypes.c_uint32), ("sched_policy", ctypes.c_uint32), ("sched_flags", ctypes.c_uint64),
                ("sched_nice", ctypes.c_int32), ("sched_priority", ctypes.c_uint32),
                ("sched_runtime", ctypes.c_uint64), ("sched_deadline", ctypes.c_uint64),
                ("sched_period", ctypes.c_uint64)]


class SchedSyscalls:
    """Mixed into Syscalls: each method goes through its _invoke, so the recording fake sees it."""

    def personality(self, persona: int) -> int:
        """Set the calling process's execution domain and flags; returns the previous persona."""
        from .syscalls import _libc  # late: syscalls imports this module
        arguments = (Hex(persona),)
        return self._invoke("personality", arguments, lambda: self._check("personality", arguments,
                                                                          _libc().personality(persona)))

    def ioprio_set(self, which: int, who: int, ioprio: int) -> None:
        arguments = (Constant(which, _IOPRIO_WHO_NAMES), who, Hex(ioprio))
        self._invoke("ioprio_set", arguments, lambda: self._raw(
            "ioprio_set", arguments, ctypes.c_int(which), ctypes.c_int(who), ctypes.c_int(ioprio)))

    def sched_setattr(self, pid: int, policy: int, *, flags: int = 0, nice: int = 0, priority: int = 0,
                      runtime: int = 0, deadline: int = 0, period: int = 0) -> None:
        """sched_setattr(pid, &attr, 0); pid 0 is the calling thread."""
        arguments = (pid, Constant(policy, _POLICY_NAMES), Flags(flags, _SCHED_FLAG_NAMES), nice, priority, runtime,
                     deadline, period)
        attr = _SchedAttr(size=ctypes.sizeof(_SchedAttr), sched_policy=policy, sched_flags=flags, sched_nice=nice,
                          sched_priority=priority, sched_runtime=runtime, sched_deadline=deadline,
                          sched_period=period)
        self._invoke("sched_setattr", arguments, lambda: self._raw(
            "sched_setattr", arguments, ctypes.c_int(pid), ctypes.byref(attr), ctypes.c_uint(0)))

    def sched_setaffinity(self, pid: int, cpus: frozenset[int]) -> None:
        """Pin `pid` (0: the caller) to the CPU numbers `cpus`."""
        arguments = (pid, tuple(sorted(cpus)))
        self._invoke("sched_setaffinity", arguments, lambda: self._os_call(
            "sched_setaffinity", arguments, os.sched_setaffinity, pid, cpus))
