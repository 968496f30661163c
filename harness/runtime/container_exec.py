"""`exec`: run another process inside a running container's namespaces, with the container's process settings."""

import errno
import json
import os
import select

from . import constants as c
from . import exec_stub
from .container_cgroup import can_clone_into, container_cgroup
from .errors import ContainerError, describe_errno
from .fds import check_preserved_fds, close_fds_except, inherit_preserved_fds, preserved_fds
from .process import MESSAGE_SIZE, SETUP_TIMEOUT_SECONDS, compiled_seccomp, enter_child, run_child, socket_pair
from .process_setup import exec_process, set_up_process
from .record import replace
from .spec import load_spec
from .state import RUNNING, ContainerRecord, StateDir, is_alive
from .syscalls import Syscalls
from .wait_status import exit_like, ignore_forwarded_signals

# Namespaces joined, in runc's order (user first: it decides the capabilities the other setns calls run with;
# mount last, since setns into it also moves the caller's root and cwd).
_JOIN_ORDER = ("user", "ipc", "uts", "net", "pid", "cgroup", "time", "mnt")
_PROC_NAME_FLAGS = {name: c.NAMESPACE_CLONE_FLAGS[kind] for kind, name in c.NAMESPACE_PROC_NAMES.items()}


def exec_in_container(container_id: str, args: list[str], root: str | None = None,
                      syscalls: Syscalls | None = None, preserve_fds: int = 0) -> int:
    """Run `args` in the container (which must be running) and return its exit status (128+N for signal N).

    A helper joins the init's namespaces, then forks the process (a pid namespace only takes children), and
    exits like it. The process gets the env, cwd, user, rlimits and capabilities of the config as it was at
    `create` (the state directory's copy: editing the bundle later changes nothing), as `runc exec` does,
    and the container's cgroup: cloned into it, or moving itself there first where clone3 cannot. Like the init,
    the helper and the process hold no descriptor of the runtime's but stdio and `preserve_fds` ones.
    """
    syscalls = syscalls or Syscalls()
    states = StateDir(root)
    record = states.load(container_id)
    status = states.status(record)
    if status != RUNNING:
        raise ContainerError(f"container {container_id!r} is not running ({status}), so nothing can be exec'd in it")
    check_preserved_fds(preserve_fds)
    spec = load_spec(states.config_copy(container_id))
    process = replace(spec.process, args=tuple(args))
    seccomp = compiled_seccomp(spec)  # the container's filter: an exec'd process gets it too, as under runc exec
    stub = exec_stub.stub_fd()
    namespace_fds = _open_namespaces(record, syscalls)  # the init's, and certainly not a later process's
    parent_end, child_end = socket_pair()
    cgroup = container_cgroup(record.cgroup_root, record.cgroup_path)
    cgroup_fd = cgroup.open() if cgroup is not None else None
    clone_into = cgroup is not None and can_clone_into(cgroup)
    devices_fd = _open_devices_v1(record)
    keep = {child_end.fileno(), *namespace_fds.values(), *([stub] if stub is not None else []),
            *(fd for fd in (cgroup_fd, devices_fd) if fd is not None), *preserved_fds(preserve_fds)}
    try:
        helper = syscalls.clone3(0)
        if helper.in_child:
            parent_end.close()
            run_child(lambda: _join_and_fork(namespace_fds, process, child_end, syscalls, cgroup_fd, clone_into,
                                             keep, preserve_fds, devices_fd, seccomp), child_end)
        child_end.close()
        parent_end.settimeout(SETUP_TIMEOUT_SECONDS)
        message = parent_end.recv(MESSAGE_SIZE)  # EOF: the process has exec'd; otherwise why it could not
        _, status = os.waitpid(helper.pid, 0)
    finally:
        parent_end.close()
        child_end.close()
        for fd in namespace_fds.values():
            os.close(fd)
        for fd in (cgroup_fd, devices_fd):
            if fd is not None:
                os.close(fd)
    if message:
        raise ContainerError(f"exec in {container_id!r}: {_error_text(message)}")
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _open_namespaces(record: ContainerRecord, syscalls: Syscalls) -> dict[str, int]:
    """fds of the init's namespaces that differ from ours (setns into one's own user namespace is EINVAL).

    Raced against pid reuse through a pidfd: it is opened first, the start time then says it is the init's, and
    after the namespace files are opened it must still not have exited (a pid is reused only once its process has
    exited and been reaped), so every /proc/PID file opened in between was the init's.
    """
    try:
        pidfd = syscalls.pidfd_open(record.pid)
    except OSError as error:
        if error.errno == errno.ESRCH:
            raise ContainerError(f"container {record.id!r} is not running (pid {record.pid} has exited)") from error
        raise
    try:
        if not is_alive(record.pid, record.start_time):
            raise ContainerError(f"container {record.id!r} is not running (pid {record.pid} is another process now)")
        fds = {}
        try:
            for name in _JOIN_ORDER:
                theirs = f"/proc/{record.pid}/ns/{name}"
                try:
                    if os.stat(theirs).st_ino == os.stat(f"/proc/self/ns/{name}").st_ino:
                        continue
                    fds[name] = os.open(theirs, os.O_RDONLY | os.O_CLOEXEC)
                except FileNotFoundError:
                    continue  # a kernel without this namespace type
            if select.select([pidfd], [], [], 0)[0]:  # readable: the init has exited
                raise ContainerError(f"container {record.id!r} stopped while its namespaces were opened")
        except BaseException:
            for fd in fds.values():
                os.close(fd)
            raise
        return fds
    finally:
        os.close(pidfd)


def _open_devices_v1(record: ContainerRecord) -> int | None:
    """A descriptor of the container's v1 devices cgroup (None: it has none), opened before any setns."""
    if not record.devices_v1_path:
        return None
    try:
        return os.open(record.devices_v1_path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise ContainerError(f"container {record.id!r}: its devices cgroup {record.devices_v1_path} cannot be "
                             f"opened ({error.strerror}), so an exec'd process would escape its device rules") \
            from error


def _join_and_fork(namespace_fds: dict[str, int], process, channel, syscalls: Syscalls,
                   cgroup_fd: int | None, clone_into: bool, keep: set[int], preserve_fds: int,
                   devices_fd: int | None = None, seccomp=None) -> None:
    enter_child((None, None, None), keep, preserve_fds, syscalls)
    if devices_fd is not None:
        # The helper joins the v1 devices cgroup itself: the process it forks inherits it (clone3's
        # CLONE_INTO_CGROUP places a child in the v2 hierarchy only).
        _move_self(devices_fd, "devices")
    # The cgroup namespace is joined by the process itself once it is in the container's cgroup: with nsdelegate,
    # a process inside that namespace may not move in from the root cgroup (ENOENT).
    for name in _JOIN_ORDER:
        if name in namespace_fds and name != "cgroup":
            syscalls.setns(namespace_fds[name], _PROC_NAME_FLAGS[name])
    child = syscalls.clone3(0, cgroup_fd=cgroup_fd if clone_into else None)
    if child.in_child:
        def enter_and_exec() -> None:
            if cgroup_fd is not None and not clone_into:
                _move_self(cgroup_fd)
            if "cgroup" in namespace_fds:
                syscalls.setns(namespace_fds["cgroup"], c.CLONE_NEWCGROUP)
            # Neither the namespace files nor the cgroup directory may be there when the cwd is applied.
            stub = exec_stub.stub_fd()
            close_fds_except({channel.fileno(), *([stub] if stub is not None else []), *preserved_fds(preserve_fds)})
            inherit_preserved_fds(preserve_fds)
            executable = set_up_process(process, syscalls, seccomp=seccomp)
            exec_process(executable, process, syscalls, report_fd=channel.fileno(), seccomp=seccomp)
        run_child(enter_and_exec, channel)
    for fd in namespace_fds.values():
        os.close(fd)
    channel.close()  # the caller's EOF must come from the exec'd process alone
    ignore_forwarded_signals()
    _, status = os.waitpid(child.pid, 0)
    exit_like(status)


def _move_self(cgroup_fd: int, which: str = "") -> None:
    """Write "0" (the writer itself) to cgroup.procs, opened relative to the cgroup's descriptor: a path would now
    resolve in the container's mount namespace."""
    what = f"{which} cgroup" if which else "cgroup"
    try:
        fd = os.open("cgroup.procs", os.O_WRONLY | os.O_CLOEXEC, dir_fd=cgroup_fd)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)
    except OSError as error:
        raise ContainerError(f"moving the exec'd process into the container's {what}: writing '0' to "
                             f"cgroup.procs failed: {error.strerror}") from error


def _error_text(message: bytes) -> str:
    failed = exec_stub.parse_report(message)
    if failed is not None:
        return f"execve of the program failed: {describe_errno(failed)}"
    try:
        return json.loads(message).get("message", message.decode(errors="replace"))
    except ValueError:
        return message.decode(errors="replace")
