"""linux.sysctl policy: only sysctls of a namespace the container does not share with the runtime, as runc allows."""

import os

from .errors import ContainerError, SpecError
from .spec import Spec
from .spec_json import join, show

SYSCTL_PATH = "linux.sysctl"
# runc's validSysctlMap (libcontainer/configs/validate): the System V IPC sysctls an ipc namespace holds.
IPC_SYSCTLS = frozenset({"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                         "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"})
MQUEUE_PREFIX = "fs.mqueue."  # POSIX message queues: ipc namespace too
NET_PREFIX = "net."
UTS_SYSCTLS = frozenset({"kernel.hostname", "kernel.domainname"})
# Namespace type of config.json -> its file under /proc/<pid>/ns.
NAMESPACE_FILES = {"ipc": "ipc", "network": "net", "uts": "uts"}
ALLOWED = (f"{', '.join(sorted(IPC_SYSCTLS))} and {MQUEUE_PREFIX}* with an ipc namespace; {NET_PREFIX}* with a "
           f"network namespace; {', '.join(sorted(UTS_SYSCTLS))} with a uts namespace")


def normalise(key: str) -> str:
    """The dotted form of a sysctl name: "net/ipv4/ip_forward" -> "net.ipv4.ip_forward".

    Both "." and "/" separate components (runc validates with "/" replaced by "."), and the runtime writes the key
    with every "." made a "/": checking this form checks the file that is written.
    """
    return key.replace("/", ".")


def namespace_of(name: str) -> str | None:
    """The namespace type ("ipc", "network", "uts") that holds the normalised sysctl `name`; None: host-global."""
    if name in IPC_SYSCTLS or name.startswith(MQUEUE_PREFIX):
        return "ipc"
    if name.startswith(NET_PREFIX):
        return "network"
    if name in UTS_SYSCTLS:
        return "uts"
    return None


def check_sysctls(spec: Spec, proc: str = "/proc") -> None:
    """Refuse every sysctl whose write would reach beyond the container; SpecError names linux.sysctl["key"].

    A sysctl is written inside the container's namespaces, so it is the container's own only if it belongs to a
    namespace the container has apart from the runtime: a new one, or one joined by a path that is not the
    runtime's own namespace (the runtime's namespaces are the host's, as far as it can tell). Everything else
    (kernel.core_pattern, vm.*, fs.* but mqueue) would change the host.
    """
    own: dict[str, bool] = {}  # namespace type -> whether the container has its own; stat'ed once per type
    for key in spec.linux.sysctl:
        path = join(SYSCTL_PATH, key)
        name = normalise(key)
        namespace_type = namespace_of(name)
        if namespace_type is None:
            raise SpecError(path, f"{show(key)} is not namespaced: writing it would change the host, not only the "
                                  f"container. Allowed are {ALLOWED}")
        if namespace_type not in own:
            own[namespace_type] = has_own_namespace(spec, namespace_type, proc)
        if not own[namespace_type]:
            raise SpecError(path, f"{show(key)} belongs to the {namespace_type} namespace, which the container "
                                  f"shares with the runtime (the host): writing it would change the host. Give the "
                                  f"container its own: linux.namespaces needs {{\"type\": \"{namespace_type}\"}}")
        if name == "kernel.hostname" and spec.hostname:
            raise SpecError(path, f"kernel.hostname conflicts with hostname ({show(spec.hostname)}): set the host "
                                  "name with the hostname field only")


def has_own_namespace(spec: Spec, namespace_type: str, proc: str = "/proc") -> bool:
    """Whether the container gets a `namespace_type` namespace other than the runtime's: a new one, or a path
    whose namespace differs from {proc}/self/ns/<name> (compared by device and inode, as runc's isHostNetNS)."""
    for index, namespace in enumerate(spec.linux.namespaces):
        if namespace.type != namespace_type:
            continue
        if namespace.path is None:
            return True
        try:
            joined = os.stat(namespace.path)
        except OSError as error:
            raise SpecError(f"linux.namespaces[{index}].path",
                            f"cannot read the {namespace_type} namespace {namespace.path}: {error.strerror}") \
                from error
        runtime_file = os.path.join(proc, "self", "ns", NAMESPACE_FILES[namespace_type])
        try:
            runtime = os.stat(runtime_file)
        except OSError as error:
            raise ContainerError(f"cannot read the runtime's own {namespace_type} namespace {runtime_file}: "
                                 f"{error.strerror}") from error
        return (joined.st_dev, joined.st_ino) != (runtime.st_dev, runtime.st_ino)
    return False
