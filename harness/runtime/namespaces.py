"""Namespaces of a container: clone flags for new ones, setns into existing ones by path, id maps, time offsets."""

import os

from . import constants as c
from .errors import ContainerError, SpecError
from .spec import Spec
from .spec_linux import IdMapping
from .syscalls import Syscalls
from .fileio import write_once

# runc's join order: the user namespace first (joining it decides which capabilities the rest of the setns calls
# run with), then the others; the mount namespace late, since opening the later paths needs the old mounts.
JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")
# Clock ids that /proc/PID/timens_offsets accepts (numbers work on every kernel with time namespaces).
TIME_CLOCK_IDS = {"monotonic": 1, "boottime": 7}  # CLOCK_MONOTONIC, CLOCK_BOOTTIME


def new_namespace_flags(spec: Spec) -> int:
    """The CLONE_NEW* flags for the namespaces the container gets new (those without a path), time and cgroup
    excluded.

    A new time namespace is never made by clone3: its offsets can only be written while no process is in it, so
    the stage that forks the container unshares it and writes the offsets first (see enter_time_namespace).
    A new cgroup namespace is rooted at the cgroup of the process that makes it, which for clone3 is the parent's
    even with CLONE_INTO_CGROUP: the container unshares it once it is in its own cgroup.
    """
    flags = 0
    for namespace in spec.linux.namespaces:
        if namespace.path is None and namespace.type not in ("time", "cgroup"):
            flags |= c.NAMESPACE_CLONE_FLAGS[namespace.type]
    return flags


def needs_intermediate_stage(spec: Spec) -> bool:
    """Whether the container must be forked from a helper process rather than from the runtime itself.

    setns into a namespace by path and unshare(CLONE_NEWTIME) change the calling process (or what its children
    get) for good; the runtime, which may be a pytest process, must not be changed, so a short-lived helper does
    them and forks the container with CLONE_PARENT (the container stays the runtime's child, so it can be waited).
    """
    return any(namespace.path is not None or namespace.type == "time" for namespace in spec.linux.namespaces)


def check_namespaces(spec: Spec) -> None:
    """Refuse namespace set-ups this runtime cannot build, naming the JSON path."""
    if spec.linux.namespace("mount") is None:
        raise SpecError("linux.namespaces", "a mount namespace is required (the rootfs is set up with pivot_root)")


def join_namespaces(spec: Spec, syscalls: Syscalls) -> None:
    """setns into every namespace the spec gives a path for, in JOIN_ORDER; errors name linux.namespaces[i]."""
    indexed = {namespace.type: (index, namespace) for index, namespace in enumerate(spec.linux.namespaces)}
    for namespace_type in JOIN_ORDER:
        index, namespace = indexed.get(namespace_type, (None, None))
        if namespace is None or namespace.path is None:
            continue
        try:
            fd = syscalls.open(namespace.path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                syscalls.setns(fd, c.NAMESPACE_CLONE_FLAGS[namespace_type])
            finally:
                syscalls.close(fd)
        except OSError as error:
            raise ContainerError(f"linux.namespaces[{index}].path ({namespace.path}): {error}") from error


def enter_time_namespace(spec: Spec, syscalls: Syscalls, proc: str = "/proc") -> None:
    """unshare(CLONE_NEWTIME) and write the offsets: the caller stays in its time namespace, its next child
    is the first process of the new one (offsets can only be written before any process has entered it)."""
    namespace = spec.linux.namespace("time")
    if namespace is None or namespace.path is not None:
        return
    syscalls.unshare(c.CLONE_NEWTIME)
    lines = "".join(f"{TIME_CLOCK_IDS[clock]} {offset.secs} {offset.nanosecs}\n"
                    for clock, offset in spec.linux.time_offsets.items())
    if lines:
        write_proc_file(f"{proc}/self/timens_offsets", lines, "linux.timeOffsets")


def write_id_maps(spec: Spec, pid: int, proc: str = "/proc") -> None:
    """Write the uid and gid maps of the new user namespace of `pid` (run in the parent, outside it).

    Without CAP_SETGID in the parent's user namespace the kernel only accepts a gid_map after setgroups has been
    denied in the child's namespace, so an unprivileged runtime writes "deny" first.
    """
    namespace = spec.linux.namespace("user")
    if namespace is None or namespace.path is not None:
        return
    if os.geteuid() != 0:
        write_proc_file(f"{proc}/{pid}/setgroups", "deny", "linux.gidMappings")
    write_proc_file(f"{proc}/{pid}/gid_map", _map_text(spec.linux.gid_mappings), "linux.gidMappings")
    write_proc_file(f"{proc}/{pid}/uid_map", _map_text(spec.linux.uid_mappings), "linux.uidMappings")


def write_proc_file(path: str, text: str, what: str) -> None:
    """Write `text` in one write(2) (proc's map files accept a single write); errors name `what` and the file."""
    try:
        write_once(path, text)
    except OSError as error:
        raise ContainerError(f"{what}: writing {text.strip()!r} to {path} failed: {error.strerror}") from error


def _map_text(mappings: tuple[IdMapping, ...]) -> str:
    return "".join(f"{mapping.container_id} {mapping.host_id} {mapping.size}\n" for mapping in mappings)
