"""Kernel features the suites may need: how to probe each on the running kernel, and where it arrived."""

from __future__ import annotations

import ctypes
import errno
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

CGROUP = Path("/sys/fs/cgroup")
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


@dataclass(frozen=True)
class Feature:
    """A probe that answers whether the running kernel has a feature, and its first release."""

    name: str
    first_release: str
    probe: Callable[[], bool]
    what: str


def _cgroup2_root() -> bool:
    try:
        return os.statvfs(CGROUP) is not None and any(
            line.split()[1:3] == [str(CGROUP), "cgroup2"] for line in Path("/proc/self/mounts").read_text().splitlines())
    except OSError:
        return False


def _in_fresh_child_cgroup(check: Callable[[Path], bool]) -> bool:
    """check(path) on a child cgroup of the cgroup2 root made for the probe and removed after; False where
    there is none or it cannot be made (or read)."""
    if not _cgroup2_root() or not os.access(CGROUP, os.W_OK):
        return False
    path = CGROUP / f"kharness-probe-{os.getpid()}"
    try:
        path.mkdir()
    except OSError:
        return False
    try:
        return check(path)
    except OSError:
        return False
    finally:
        path.rmdir()


def _child_cgroup_has(filename: str) -> Callable[[], bool]:
    """True when a fresh child cgroup of the cgroup2 root exposes `filename`."""
    return lambda: _in_fresh_child_cgroup(lambda path: (path / filename).exists())


def _child_cgroup_field(filename: str, key: str) -> Callable[[], bool]:
    """True when `filename` of a fresh child cgroup of the cgroup2 root has the flat key `key` (a counter of
    memory.events, say): a field can arrive long after its file."""
    return lambda: _in_fresh_child_cgroup(
        lambda path: any(line.split()[:1] == [key] for line in (path / filename).read_text().splitlines()))


def _syscall_exists(number: int, *args: int) -> Callable[[], bool]:
    """True unless the syscall fails with ENOSYS (called with arguments that make it fail harmlessly)."""
    def probe() -> bool:
        if _libc.syscall(number, *args) == -1 and ctypes.get_errno() == errno.ENOSYS:
            return False
        return True
    return probe


def _clone_into_cgroup() -> bool:
    """clone3(CLONE_INTO_CGROUP, cgroup=<unopened fd>) fails with EBADF where the flag exists, EINVAL or ENOSYS before."""
    args = (ctypes.c_uint64 * 11)()
    args[0] = 0x200000000  # CLONE_INTO_CGROUP
    args[4] = 17  # exit_signal SIGCHLD
    args[10] = 0x7FFFFFFF  # a valid but unopened fd number (above INT_MAX is EINVAL everywhere)
    result = _libc.syscall(435, ctypes.byref(args), ctypes.c_size_t(ctypes.sizeof(args)))
    if result == 0:  # cannot happen with an unopened fd; never continue as a child
        os._exit(0)
    return result == -1 and ctypes.get_errno() == errno.EBADF


def _seccomp_filter() -> bool:
    """prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, NULL) faults on the NULL program where filters exist (EFAULT, for
    any user: the program is read first), and is EINVAL without CONFIG_SECCOMP_FILTER."""
    return _libc.prctl(22, 2, ctypes.c_void_p(None), 0, 0) == -1 and ctypes.get_errno() == errno.EFAULT


def _seccomp_action(action: int) -> Callable[[], bool]:
    """seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &action) succeeds where the kernel knows the filter action."""
    def probe() -> bool:
        number = {"x86_64": 317, "aarch64": 277}.get(os.uname().machine)  # seccomp(2)
        value = ctypes.c_uint32(action)
        return number is not None and _libc.syscall(number, 2, 0, ctypes.byref(value)) == 0
    return probe


def _root_controllers_has(name: str) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            return name in (CGROUP / "cgroup.controllers").read_text().split()
        except OSError:
            return False
    return probe


FEATURES: dict[str, Feature] = {f.name: f for f in (
    Feature("cgroup2", "4.5", _cgroup2_root, "a cgroup v2 hierarchy mounted at /sys/fs/cgroup"),
    Feature("cgroup.kill", "5.14", _child_cgroup_has("cgroup.kill"), "killing a cgroup with cgroup.kill"),
    Feature("cgroup.freeze", "5.2", _child_cgroup_has("cgroup.freeze"), "the cgroup v2 freezer"),
    Feature("memory.peak", "5.19", _child_cgroup_has("memory.peak"), "memory.peak"),
    Feature("memory.oom.group", "4.19", _child_cgroup_has("memory.oom.group"), "memory.oom.group"),
    # Commit b6bf9abb0aa4 "mm/memcg: add oom_group_kill memory event", merged for 5.17-rc1.
    Feature("memory.events.oom_group_kill", "5.17", _child_cgroup_field("memory.events", "oom_group_kill"),
            "the oom_group_kill counter of memory.events"),
    Feature("cpuset", "5.0", _root_controllers_has("cpuset"), "the cgroup v2 cpuset controller"),
    Feature("io", "4.5", _root_controllers_has("io"), "the cgroup v2 io controller"),
    Feature("time_namespace", "5.6", lambda: os.path.exists("/proc/self/ns/time"), "time namespaces"),
    Feature("cgroup_namespace", "4.6", lambda: os.path.exists("/proc/self/ns/cgroup"), "cgroup namespaces"),
    # clone3(NULL, 0) fails with EINVAL where it exists and ENOSYS where it does not.
    Feature("clone3", "5.3", _syscall_exists(435, 0, 0), "the clone3 system call"),
    Feature("CLONE_INTO_CGROUP", "5.7", _clone_into_cgroup, "clone3 with CLONE_INTO_CGROUP"),
    Feature("pidfd_open", "5.3", _syscall_exists(434, -1, 0), "the pidfd_open system call"),
    Feature("mount_setattr", "5.12", _syscall_exists(442, -1, 0, 0, 0, 0), "the mount_setattr system call"),
    Feature("seccomp_filter", "3.5", _seccomp_filter, "seccomp filters (CONFIG_SECCOMP_FILTER)"),
    Feature("SECCOMP_RET_KILL_PROCESS", "4.14", _seccomp_action(0x80000000), "the seccomp action that kills the "
                                                                            "whole process"),
)}


class UnknownFeature(KeyError):
    """A requires() marker names a feature this module cannot probe."""


_cache: dict[str, bool] = {}


def has(name: str) -> bool:
    """Whether the running kernel has the feature (probed once per process)."""
    if name not in FEATURES:
        raise UnknownFeature(f"requires({name!r}): unknown feature; known: {', '.join(sorted(FEATURES))}")
    if name not in _cache:
        _cache[name] = FEATURES[name].probe()
    return _cache[name]


def skip_reason(name: str) -> str:
    f = FEATURES[name]
    return f"{name} ({f.what}) is absent from Linux {os.uname().release}; it arrived in Linux {f.first_release}"
