"""Inside the container, after the rootfs: affinity, cwd, rlimits, scheduling, LSM labels, umask, user, capabilities,
no_new_privs, seccomp, execve."""

from __future__ import annotations

import errno
import os
import signal

from . import constants as c
from . import exec_stub
from .errors import ContainerError, SyscallError
from .lsm import apply_exec_labels
from .process_env import with_home
from .spec_linux import Personality
from .spec_process import Capabilities, Process
from .spec_scheduling import MAX_CPUS
from .syscalls import CapabilitySets, Syscalls

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing, which every CLI start would pay
if TYPE_CHECKING:
    from .seccomp_codegen import SeccompFilter

DEFAULT_UMASK = 0o022  # runc's, when process.user.umask is not set
# The PATH searched when the spec's env has none (runc uses the same).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Python ignores these at start-up; an ignored signal stays ignored across execve, so restore them first.
_PYTHON_IGNORED_SIGNALS = ("SIGPIPE", "SIGXFSZ", "SIGXFZ")


def set_up_process(process: Process, syscalls: Syscalls, last_cap: int | None = None,
                   seccomp: SeccompFilter | None = None) -> str:
    """Apply everything in `process` but the exec itself, in runc's order; returns the executable's path.

    `last_cap` is the kernel's highest capability number, asked before pivot_root (None: ask now). `seccomp` is the
    compiled linux.seccomp, if any.

    The order matters: execCPUAffinity.initial first, so the set-up itself runs there; rlimits (raising a hard limit
    needs CAP_SYS_RESOURCE), the I/O priority and the scheduler (an RT class or policy needs CAP_SYS_ADMIN or
    CAP_SYS_NICE) and the LSM labels for the exec while still privileged; the bounding set dropped while
    CAP_SETPCAP is still there, PR_SET_KEEPCAPS across the uid change so the permitted set survives it, then the
    final sets with capset and the ambient ones, and no_new_privs last. A seccomp filter needs no_new_privs or
    CAP_SYS_ADMIN: without noNewPrivileges it is loaded here, before any capability is dropped (so the profile must
    allow what follows: setgroups, setresuid, capset, prctl, and the runtime's handshake, as under runc); with it,
    exec_process loads it last, just before the execve (after execCPUAffinity.final).
    """
    affinity = process.exec_cpu_affinity
    if affinity is not None and affinity.initial is not None:
        _set_affinity(affinity.initial, "process.execCPUAffinity.initial", syscalls)
    _chdir(process.cwd, syscalls)
    for rlimit in process.rlimits:
        syscalls.setrlimit(c.RLIMITS[rlimit.type], rlimit.soft, rlimit.hard)
    apply_scheduling(process, syscalls)
    apply_exec_labels(process, syscalls)
    syscalls.umask(DEFAULT_UMASK if process.user.umask is None else process.user.umask)
    if seccomp is not None and not process.no_new_privileges:
        from .seccomp_load import load_filter  # late, and loaded already (process.compiled_seccomp)
        load_filter(seccomp, syscalls)
    capabilities = process.capabilities
    if capabilities is not None:
        drop_bounding_set(capabilities, syscalls, last_capability(syscalls) if last_cap is None else last_cap)
        syscalls.prctl(c.PR_SET_KEEPCAPS, 1)
    syscalls.setgroups(process.user.additional_gids)
    syscalls.setresgid(process.user.gid, process.user.gid, process.user.gid)
    syscalls.setresuid(process.user.uid, process.user.uid, process.user.uid)
    if capabilities is not None:
        syscalls.prctl(c.PR_SET_KEEPCAPS, 0)
        apply_capabilities(capabilities, syscalls)
    if process.no_new_privileges:
        syscalls.prctl(c.PR_SET_NO_NEW_PRIVS, 1)
    return find_executable(process.args[0], process.env)


def apply_scheduling(process: Process, syscalls: Syscalls) -> None:
    """process.ioPriority with ioprio_set and process.scheduler with sched_setattr, on the calling process."""
    if process.io_priority is not None:
        value = c.IOPRIO_CLASSES[process.io_priority.io_class] << c.IOPRIO_CLASS_SHIFT | process.io_priority.priority
        try:
            syscalls.ioprio_set(c.IOPRIO_WHO_PROCESS, 0, value)
        except OSError as error:
            raise ContainerError(f"process.ioPriority: {error}") from error
    scheduler = process.scheduler
    if scheduler is not None:
        flags = 0
        for name in scheduler.flags:
            flags |= c.SCHED_FLAGS[name]
        try:
            syscalls.sched_setattr(0, c.SCHED_POLICIES[scheduler.policy], flags=flags, nice=scheduler.nice,
                                   priority=scheduler.priority, runtime=scheduler.runtime,
                                   deadline=scheduler.deadline, period=scheduler.period)
        except OSError as error:
            raise ContainerError(f"process.scheduler: {error}") from error


def apply_personality(personality: Personality | None, syscalls: Syscalls) -> None:
    """linux.personality: the execution domain (LINUX32 makes uname report i686) and flags, kept across execve."""
    if personality is None:
        return
    persona = c.PERSONALITY_DOMAINS[personality.domain]
    for name in personality.flags:
        persona |= c.PERSONALITY_FLAGS[name]
    try:
        syscalls.personality(persona)
    except OSError as error:
        raise ContainerError(f"linux.personality: {error}") from error


def apply_final_affinity(process: Process, syscalls: Syscalls) -> None:
    """execCPUAffinity.final just before the exec; with only `initial`, every CPU again (the cpuset still
    applies), as runc resets it, so the program does not inherit the set-up's CPUs."""
    affinity = process.exec_cpu_affinity
    if affinity is None:
        return
    if affinity.final is not None:
        _set_affinity(affinity.final, "process.execCPUAffinity.final", syscalls)
    elif affinity.initial is not None:
        _set_affinity(frozenset(range(MAX_CPUS)), "process.execCPUAffinity.final", syscalls)


def _set_affinity(cpus: frozenset[int], what: str, syscalls: Syscalls) -> None:
    try:
        syscalls.sched_setaffinity(0, cpus)
    except OSError as error:
        # EINVAL: none of the CPUs is online and in the container's cpuset.
        raise ContainerError(f"{what}: {error}") from error


def drop_bounding_set(capabilities: Capabilities, syscalls: Syscalls, last_cap: int) -> None:
    """PR_CAPBSET_DROP every capability up to `last_cap` that `bounding` does not name."""
    keep = {c.CAPABILITIES[name] for name in capabilities.bounding}
    for number in range(last_cap + 1):
        if number not in keep:
            syscalls.prctl(c.PR_CAPBSET_DROP, number)


def apply_capabilities(capabilities: Capabilities, syscalls: Syscalls) -> None:
    """capset the effective, permitted and inheritable sets, then raise the ambient ones the kernel allows.

    The kernel raises an ambient capability only if it is both permitted and inheritable. runc's default config
    lists ambient capabilities but no inheritable ones, and runc 1.1.5 runs it with an empty ambient set; we do
    the same by skipping what the kernel would refuse, instead of failing the container.
    """
    sets = CapabilitySets(effective=_mask(capabilities.effective), permitted=_mask(capabilities.permitted),
                          inheritable=_mask(capabilities.inheritable))
    syscalls.capset(sets)
    syscalls.prctl(c.PR_CAP_AMBIENT, c.PR_CAP_AMBIENT_CLEAR_ALL)
    for name in capabilities.ambient:
        number = c.CAPABILITIES[name]
        if sets.permitted >> number & 1 and sets.inheritable >> number & 1:
            syscalls.prctl(c.PR_CAP_AMBIENT, c.PR_CAP_AMBIENT_RAISE, number)


def last_capability(syscalls: Syscalls) -> int:
    """The highest capability number the running kernel knows, asked of the kernel itself.

    PR_CAPBSET_READ fails with EINVAL past the last capability: a binary search over 0..63 takes 6 calls. Never
    /proc/sys/kernel/cap_last_cap, which after pivot_root is whatever the container's image put at that path: a
    faked "1" kept every higher capability in the bounding set.
    """
    known, unknown = 0, 64  # CAP_CHOWN (0) exists everywhere; capability sets are 64 bits wide
    while unknown - known > 1:
        middle = (known + unknown) // 2
        try:
            syscalls.prctl(c.PR_CAPBSET_READ, middle)
            known = middle
        except SyscallError as error:
            if error.errno != errno.EINVAL:
                raise
            unknown = middle
    return known


def find_executable(program: str, env: tuple[str, ...]) -> str:
    """The path execve will run: `program` itself if it has a slash, else the first match in the env's PATH."""
    if "/" in program:
        candidates = [program]
    else:
        path = next((entry[5:] for entry in env if entry.startswith("PATH=")), DEFAULT_PATH)
        candidates = [os.path.join(directory or ".", program) for directory in path.split(":")]
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    where = "" if "/" in program else " in $PATH"
    raise ContainerError(f"process.args[0]: executable file {program!r} not found{where}")


def exec_process(executable: str, process: Process, syscalls: Syscalls, report_fd: int | None = None,
                 seccomp: SeccompFilter | None = None) -> None:
    """execve the container's program with signal dispositions and mask as a fresh process would have them.

    With `report_fd` (the runtime's channel), through the sealed exec stub (exec_stub.py), so that the program's
    execve never runs while /proc/self/exe is the host's interpreter; the stub reports a failed execve's errno on
    a copy of `report_fd`. With `seccomp` and noNewPrivileges, the filter is loaded right before the execve (see
    set_up_process), and the stub is reached the way the filter allows (seccomp_load.stub_target).
    """
    for name in _PYTHON_IGNORED_SIGNALS:
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    apply_final_affinity(process, syscalls)
    env = with_home(process.env, process.user.uid)
    stub = exec_stub.stub_fd() if report_fd is not None else None
    if stub is None:
        _load_late(seccomp, process, syscalls)
        syscalls.execve(executable, process.args, env)
        return
    report = os.dup(report_fd)  # the lowest free number, so below the 128 the stub's argv can carry
    os.set_inheritable(report, True)
    target: int | str = stub
    if seccomp is not None:
        from .seccomp_load import stub_target  # late, and loaded already (process.compiled_seccomp)
        target = stub_target(seccomp, stub, report)
    _load_late(seccomp, process, syscalls)
    syscalls.execve(target, exec_stub.stub_argv(report, executable, process.args), env)


def check_exec_under(seccomp: SeccompFilter | None, report_fd: int) -> None:
    """Refuse, at set-up time, a filter that would stop exec_process's way to the stub, so that `create` fails
    rather than `start` (exec_process asks again with the exact descriptors)."""
    stub = exec_stub.stub_fd()
    if seccomp is not None and stub is not None:
        from .seccomp_load import stub_target  # late, and loaded already (process.compiled_seccomp)
        stub_target(seccomp, stub, report_fd)


def _load_late(seccomp: SeccompFilter | None, process: Process, syscalls: Syscalls) -> None:
    """With noNewPrivileges, load the filter as late as possible: only the exec comes after it."""
    if seccomp is not None and process.no_new_privileges:
        from .seccomp_load import load_filter
        load_filter(seccomp, syscalls)


def _chdir(cwd: str, syscalls: Syscalls) -> None:
    try:
        syscalls.chdir(cwd)
    except OSError as error:
        raise ContainerError(f"process.cwd: {error}") from error
    # The kernel prefixes a directory outside our root with "(unreachable)" and glibc's getcwd then fails with
    # ENOENT: such a cwd (a host directory reached through a descriptor, CVE-2024-21626) is never accepted.
    try:
        where = os.getcwd()
    except FileNotFoundError:
        where = ""
    if not where.startswith("/"):
        raise ContainerError(f"process.cwd: {cwd!r} resolves outside the container's root filesystem; refused")


def _mask(names: tuple[str, ...]) -> int:
    return sum(1 << c.CAPABILITIES[name] for name in set(names))
