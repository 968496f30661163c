"""`exec`: run another process inside a running container's namespaces, with the container's process settings."""

import dataclasses
import json
import os
import socket

from . import constants as c
from .errors import ContainerError
from .process import MESSAGE_SIZE, SETUP_TIMEOUT_SECONDS, exit_like, ignore_forwarded_signals, run_child
from .process_setup import exec_process, set_up_process
from .spec import load_spec
from .state import RUNNING, StateDir
from .syscalls import Syscalls

# Namespaces joined, in runc's order (user first: it decides the capabilities the other setns calls run with;
# mount last, since setns into it also moves the caller's root and cwd).
_JOIN_ORDER = ("user", "ipc", "uts", "net", "pid", "cgroup", "time", "mnt")
_PROC_NAME_FLAGS = {name: c.NAMESPACE_CLONE_FLAGS[kind] for kind, name in c.NAMESPACE_PROC_NAMES.items()}


def exec_in_container(container_id: str, args: list[str], root: str | None = None,
                      syscalls: Syscalls | None = None) -> int:
    """Run `args` in the container (which must be running) and return its exit status (128+N for signal N).

    A helper joins the init's namespaces, then forks the process (a pid namespace only takes children), and
    exits like it. The process gets the config's env, cwd, user, rlimits and capabilities, as `runc exec` does.
    """
    syscalls = syscalls or Syscalls()
    states = StateDir(root)
    record = states.load(container_id)
    if states.status(record) != RUNNING:
        raise ContainerError(f"container {container_id!r} is not running, so nothing can be exec'd in it")
    spec = load_spec(record.bundle)
    process = dataclasses.replace(spec.process, args=tuple(args))
    parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    namespace_fds = _open_namespaces(record.pid)  # opened here, while /proc/PID is certainly the init's
    try:
        helper = syscalls.clone3(0)
        if helper.in_child:
            parent_end.close()
            run_child(lambda: _join_and_fork(namespace_fds, process, child_end, syscalls), child_end)
        child_end.close()
        parent_end.settimeout(SETUP_TIMEOUT_SECONDS)
        message = parent_end.recv(MESSAGE_SIZE)  # EOF: the process has exec'd; otherwise why it could not
        _, status = os.waitpid(helper.pid, 0)
    finally:
        parent_end.close()
        child_end.close()
        for fd in namespace_fds.values():
            os.close(fd)
    if message:
        raise ContainerError(f"exec in {container_id!r}: {_error_text(message)}")
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _open_namespaces(pid: int) -> dict[str, int]:
    """fds of the init's namespaces that differ from ours (setns into one's own user namespace is EINVAL)."""
    fds = {}
    for name in _JOIN_ORDER:
        theirs = f"/proc/{pid}/ns/{name}"
        try:
            if os.stat(theirs).st_ino == os.stat(f"/proc/self/ns/{name}").st_ino:
                continue
            fds[name] = os.open(theirs, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # a kernel without this namespace type
    return fds


def _join_and_fork(namespace_fds: dict[str, int], process, channel: socket.socket, syscalls: Syscalls) -> None:
    for name in _JOIN_ORDER:
        if name in namespace_fds:
            syscalls.setns(namespace_fds[name], _PROC_NAME_FLAGS[name])
    for fd in namespace_fds.values():
        os.close(fd)
    child = syscalls.clone3(0)
    if child.in_child:
        run_child(lambda: exec_process(set_up_process(process, syscalls), process, syscalls), channel)
    channel.close()  # the caller's EOF must come from the exec'd process alone
    ignore_forwarded_signals()
    _, status = os.waitpid(child.pid, 0)
    exit_like(status)


def _error_text(message: bytes) -> str:
    try:
        return json.loads(message).get("message", message.decode(errors="replace"))
    except ValueError:
        return message.decode(errors="replace")
