"""Fork a container's init process in its namespaces and set it up, through a parent/child handshake.

The protocol, over a SOCK_SEQPACKET socketpair (one JSON object per message) plus the exec FIFO of the state dir:

    parent (runtime)                              child (becomes the container's PID 1)
    opens exec.fifo O_RDWR, creates socketpair
    clone3(CLONE_NEW* | CLONE_PIDFD)  ───────►    [in the new namespaces, uid unmapped]
      (or: helper stage, see below)
    writes /proc/PID/{setgroups,gid_map,uid_map}
    sends {"type": "go"}              ───────►    waits for "go" (EOF: the parent died; exit quietly)
                                                  setresuid/gid(0) if 0 is mapped; sethostname, setdomainname
                                                  oom_score_adj; the mount plan (rootfs.py): mounts, /dev,
                                                  sysctl, masked and read-only paths, pivot_root
                                                  cwd, rlimits, umask, bounding set, user, capabilities,
                                                  no_new_privs; finds the executable
    waits for "ready"                 ◄───────    sends {"type": "ready"}, or {"type": "error", "message"}
    writes state.json ("created"); `create` returns
                                                  blocks reading 1 byte from exec.fifo
    `start`: opens exec.fifo O_WRONLY|O_NONBLOCK
    (ENXIO: nobody waits), writes "0", unlinks it ───────►  reads the byte, execve(process.args)
    a `start` in the creating process then reads the socket: EOF (the child's end is close-on-exec) means the
    execve happened; {"type": "error"} means it failed.

Helper stage: joining a namespace by path (setns) or creating a time namespace (unshare(CLONE_NEWTIME), then
writing /proc/self/timens_offsets, which the kernel only accepts before any process is inside) would change the
runtime process itself. So a helper is cloned first; it does the setns calls and the time namespace, clones the
container with CLONE_PARENT (so the container is still the runtime's child, and its exit status reaches `run`),
sends {"type": "pid", "pid": N} and exits; the handshake then goes on as above with the helper's grandchild.

The container's program runs as PID 1 of its pid namespace, directly (no reaper process, as runc does): it gets
the signals `kill` sends, and `run` reports its exit status, 128+N for death by signal N.
"""

import json
import os
import signal
import socket
from dataclasses import dataclass
from typing import Callable, NoReturn

from . import constants as c
from .errors import ContainerError
from .namespaces import enter_time_namespace, join_namespaces, needs_intermediate_stage, new_namespace_flags, \
    write_id_maps, write_proc_file
from .process_setup import exec_process, set_up_process
from .rootfs import apply_rootfs_plan
from .rootfs_plan import plan_rootfs
from .spec import Spec
from .syscalls import Syscalls

MESSAGE_SIZE = 1 << 16
# How long the parent waits for the child to finish its set-up before giving up on it.
SETUP_TIMEOUT_SECONDS = 60.0


@dataclass
class ContainerProcess:
    """The container's init as its parent sees it; `channel` is open until the exec (see `confirm_exec`)."""

    pid: int
    pidfd: int
    channel: socket.socket
    exit_status: int | None = None  # set once the process has been waited for


def spawn_container(spec: Spec, bundle: str, rootfs: str, exec_fifo: str,
                    syscalls: Syscalls | None = None) -> ContainerProcess:
    """Fork and set up the container's init; return once it waits on `exec_fifo` (status "created")."""
    syscalls = syscalls or Syscalls()
    plan = plan_rootfs(spec, rootfs, bundle) if _makes_own_mounts(spec) else ()
    parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    fifo_fd = os.open(exec_fifo, os.O_RDWR | os.O_CLOEXEC)  # O_RDWR: opening never blocks, reading does
    pid = pidfd = None
    try:
        def init() -> None:
            parent_end.close()
            _container_init(spec, rootfs, plan, child_end, fifo_fd, syscalls)

        if needs_intermediate_stage(spec):
            helper = syscalls.clone3(0)
            if helper.in_child:
                _run_child(lambda: _helper(spec, init, child_end, syscalls), child_end)
            child_end.close()
            pid = _receive(parent_end, "pid", helper.pid)["pid"]
            os.waitpid(helper.pid, 0)
            pidfd = syscalls.pidfd_open(pid)
        else:
            result = syscalls.clone3(new_namespace_flags(spec) | c.CLONE_PIDFD)
            if result.in_child:
                _run_child(init, child_end)
            child_end.close()
            pid, pidfd = result.pid, result.pidfd
        write_id_maps(spec, pid)
        _send(parent_end, {"type": "go"})
        _receive(parent_end, "ready", pid)
        return ContainerProcess(pid=pid, pidfd=pidfd, channel=parent_end)
    except BaseException:  # KeyboardInterrupt included: never leave a half-made container behind
        parent_end.close()
        child_end.close()
        if pid is not None:
            _kill_and_reap(pid, pidfd, syscalls)
        raise
    finally:
        os.close(fifo_fd)


def confirm_exec(container: ContainerProcess) -> None:
    """After `start`, wait until the init has exec'd (EOF on the channel) or report why its execve failed."""
    try:
        _receive(container.channel, "eof", container.pid)
    finally:
        container.channel.close()


def _makes_own_mounts(spec: Spec) -> bool:
    # Joining a mount namespace by path means using that namespace's filesystem as it is.
    mount = spec.linux.namespace("mount")
    return mount is not None and mount.path is None


def _helper(spec: Spec, init: Callable[[], None], channel: socket.socket, syscalls: Syscalls) -> None:
    join_namespaces(spec, syscalls)
    enter_time_namespace(spec, syscalls)
    container = syscalls.clone3(new_namespace_flags(spec) | c.CLONE_PARENT)
    if container.in_child:
        _run_child(init, channel)
    _send(channel, {"type": "pid", "pid": container.pid})


def _container_init(spec: Spec, rootfs: str, plan: tuple, channel: socket.socket, fifo_fd: int,
                    syscalls: Syscalls) -> None:
    if _receive_in_child(channel) is None:
        os._exit(0)  # the parent died before the maps were written: nobody wants this container any more
    if _maps_root(spec):
        syscalls.setresgid(0, 0, 0)
        syscalls.setresuid(0, 0, 0)
    if spec.hostname is not None:
        syscalls.sethostname(spec.hostname)
    if spec.domainname is not None:
        syscalls.setdomainname(spec.domainname)
    if spec.process.oom_score_adj is not None:
        write_proc_file("/proc/self/oom_score_adj", str(spec.process.oom_score_adj), "process.oomScoreAdj")
    apply_rootfs_plan(plan, syscalls, rootfs)
    executable = set_up_process(spec.process, syscalls)
    _send(channel, {"type": "ready"})
    os.read(fifo_fd, 1)  # blocks until `start` writes
    exec_process(executable, spec.process, syscalls)


def _maps_root(spec: Spec) -> bool:
    """In a new user namespace whose maps include container uid and gid 0, become root there (as runc does)."""
    user = spec.linux.namespace("user")
    return (user is not None and user.path is None
            and any(mapping.container_id == 0 for mapping in spec.linux.uid_mappings)
            and any(mapping.container_id == 0 for mapping in spec.linux.gid_mappings))


def _run_child(work: Callable[[], None], channel: socket.socket) -> NoReturn:
    """Run `work` in a forked child and leave through os._exit whatever happens: returning would run the
    parent's code (a pytest session) a second time."""
    status = 0
    try:
        work()
    except BaseException as error:  # everything, SystemExit too: the child must report and exit, never return
        status = 1
        try:
            _send(channel, {"type": "error", "message": _describe(error)})
        except OSError:
            pass  # the parent is gone; nobody is left to tell
    finally:
        os._exit(status)


def _describe(error: BaseException) -> str:
    if isinstance(error, (ContainerError, OSError)):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _send(channel: socket.socket, message: dict) -> None:
    channel.send(json.dumps(message).encode())


def _receive_in_child(channel: socket.socket) -> dict | None:
    data = channel.recv(MESSAGE_SIZE)
    return json.loads(data) if data else None


def _receive(channel: socket.socket, expected: str, pid: int) -> dict:
    """The next message from the child, which must be of type `expected` ("eof": the channel must close)."""
    channel.settimeout(SETUP_TIMEOUT_SECONDS)
    try:
        data = channel.recv(MESSAGE_SIZE)
    except TimeoutError as error:
        raise ContainerError(f"container process {pid} did not answer within {SETUP_TIMEOUT_SECONDS:.0f} s "
                             f"(waiting for {expected!r})") from error
    if not data:
        if expected == "eof":
            return {}
        raise ContainerError(f"container process {pid} exited during set-up (waiting for {expected!r})")
    message = json.loads(data)
    if message.get("type") == "error":
        raise ContainerError(message["message"])
    if message.get("type") != expected:
        raise ContainerError(f"container process {pid} sent {message!r} while {expected!r} was expected")
    return message


def _kill_and_reap(pid: int, pidfd: int | None, syscalls: Syscalls) -> None:
    try:
        if pidfd is not None:
            syscalls.pidfd_send_signal(pidfd, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except OSError:
        pass  # already dead; the wait below reaps it
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    if pidfd is not None:
        os.close(pidfd)
