"""Fork a container's init process in its namespaces and set it up, through a parent/child handshake.

The protocol, over a SOCK_SEQPACKET socketpair (one JSON object per message) plus the exec FIFO of the state dir:

    parent (runtime)                              child (becomes the container's PID 1)
    creates and configures the cgroup (limits, device program: container_cgroup.py)
    opens exec.fifo O_RDWR, creates socketpair
    clone3(CLONE_NEW* | CLONE_PIDFD   ───────►    [in the new namespaces, uid unmapped]
      | CLONE_INTO_CGROUP)
      (or: helper stage, see below)
    without CLONE_INTO_CGROUP: writes PID to the cgroup's cgroup.procs
    writes /proc/PID/{setgroups,gid_map,uid_map}
    sends {"type": "go"}              ───────►    waits for "go" (EOF: the parent died; exit quietly)
                                                  unshare(CLONE_NEWCGROUP) if asked: now that it is in its
                                                  cgroup, that cgroup becomes the namespace's root
                                                  dup2s the given stdio onto 0, 1, 2
                                                  setresuid/gid(0) if 0 is mapped; sethostname, setdomainname
                                                  oom_score_adj; the mount plan (rootfs.py): mounts, /dev,
                                                  sysctl, masked and read-only paths
    [only with prestart/createRuntime/createContainer hooks: waits for "hooks" ◄── sends {"type": "hooks"};
    runs prestart, createRuntime; sends {"type": "hooks-done", "state"} ──► runs createContainer (init_hooks.py)]
                                                  the mount plan's last step: pivot_root
                                                  cwd, rlimits, umask, (the seccomp filter without
                                                  noNewPrivileges), bounding set, user, capabilities,
                                                  no_new_privs; finds the executable
    waits for "ready"                 ◄───────    sends {"type": "ready"}, or {"type": "error", "message"}
    writes state.json ("created")
    sends {"type": "committed"}       ───────►    waits for "committed" (EOF: the runtime died before it
    (+ "state" for startContainer hooks)          recorded the container: exit, so nothing is left unseen)
    `create` returns                              blocks reading 1 byte from exec.fifo
    `start`: opens exec.fifo O_WRONLY|O_NONBLOCK
    (ENXIO: nobody waits), writes "0", unlinks it ───────►  reads the byte, startContainer hooks, (the seccomp
                                                  filter with noNewPrivileges), execs the sealed stub
                                                  (exec_stub.py), which execve()s process.args
    a `start` in the creating process then reads the socket: EOF (the child's end is close-on-exec) means the
    execve happened; {"type": "error"} or the stub's errno report means it failed.
With startContainer or poststart hooks, the init also holds start.fifo (see init_hooks.py), which tells any `start`.

Before anything else the child closes every descriptor but stdio, its end of the channel, the FIFO, the stub and
the --preserve-fds ones (fds.py: CVE-2024-21626), and makes itself non-dumpable (PR_SET_DUMPABLE 0) until its
exec, so a process sharing its pid namespace can open neither /proc/PID/fd/N nor /proc/PID/exe (CVE-2019-5736).
A runtime that is not root does that after "go": a non-dumpable child's /proc/PID/uid_map is root's.

Helper stage: joining a namespace by path (setns) or creating a time namespace (unshare(CLONE_NEWTIME), then
writing /proc/self/timens_offsets, which the kernel only accepts before any process is inside) would change the
runtime process itself. So a helper is cloned first; it does the setns calls and the time namespace, clones the
container, sends {"type": "pid", "pid": N}, closes its ends of the channel and the FIFO, and stays as the
container's parent: it waits for it and exits with the same status (dying of the same signal), so waiting for
the helper gives the container's status. (CLONE_PARENT, which would make the container the runtime's own child,
is refused with EINVAL together with CLONE_NEWPID or CLONE_NEWUSER, or after a setns into a pid namespace.)
The helper clones the container into the cgroup itself, so only the container counts against its limits.
The handshake then goes on as above with the helper's child.

The container's program runs as PID 1 of its pid namespace, directly (no reaper process, as runc does): it gets
the signals `kill` sends, and `run` reports its exit status, 128+N for death by signal N.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import _socket  # not `socket`: its enum conversions cost ~3 ms natively on each CLI start
from collections.abc import Callable

from . import constants as c
from . import exec_stub
from .console import set_up_console
from .container_cgroup import CgroupPlacement
from .errors import ContainerError, describe_errno
from .fds import close_fds_except, inherit_preserved_fds, preserved_fds
from .init_hooks import apply_plan_with_hooks, preload_hooks, run_start_hooks
from .namespaces import enter_time_namespace, join_namespaces, needs_intermediate_stage, new_namespace_flags, \
    write_id_maps, write_proc_file
from .process_setup import apply_personality, check_exec_under, exec_process, last_capability, set_up_process
from .record import record
from .rootfs import apply_rootfs_plan
from .rootfs_plan import plan_rootfs
from .spec import Spec
from .syscalls import Syscalls
from .wait_status import exit_like, ignore_forwarded_signals

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing, which every CLI start would pay
if TYPE_CHECKING:
    from typing import NoReturn

    from .seccomp_codegen import SeccompFilter

MESSAGE_SIZE = 1 << 16
# How long the parent waits for the child to finish its set-up before giving up on it.
SETUP_TIMEOUT_SECONDS = 60.0


@record
class ContainerProcess:
    """The container's init as its parent sees it; `channel` is open until the exec (see `confirm_exec`)."""

    pid: int
    pidfd: int
    channel: _socket.socket
    # The runtime's child whose exit status is the container's: the init itself, or the helper that waits for it.
    waiter_pid: int
    exit_status: int | None = None  # set once the process has been waited for


def spawn_container(spec: Spec, bundle: str, rootfs: str, exec_fifo: str, syscalls: Syscalls | None = None,
                    stdio: tuple[int | None, int | None, int | None] = (None, None, None),
                    cgroup: CgroupPlacement | None = None, preserve_fds: int = 0,
                    on_forked: Callable[[int], None] | None = None,
                    extra_cgroups: tuple = (), create_hooks: Callable[[int], dict] | None = None,
                    start_fifo: str | None = None, console_fd: int | None = None) -> ContainerProcess:
    """Fork and set up the container's init; return once it waits for "committed" (see `commit`).

    `stdio` holds file descriptors to become the container's 0, 1 and 2 (None: inherit the runtime's).
    `cgroup` is where the init goes before it runs anything of its own (None: it stays in the runtime's cgroup);
    `extra_cgroups` are more groups (objects with add_process(pid), such as a v1 devices cgroup) it joins then.
    `preserve_fds` descriptors from 3 up reach the container (runc's --preserve-fds); all others are closed.
    `on_forked(pid)` runs in the runtime as soon as the init's pid is known, before it is released.
    `create_hooks(pid)` runs prestart and createRuntime when the init asks (only a spec with such hooks pays that
    round trip), returning the createContainer hooks' state. `start_fifo`: the state dir's start.fifo, or None.
    `console_fd` is a connected console socket: the init makes a pty after pivot_root and sends its master there.
    """
    syscalls = syscalls or Syscalls()
    syscalls.resolve_functions()
    plan = plan_rootfs(spec, rootfs, bundle) if _makes_own_mounts(spec) else ()
    seccomp = compiled_seccomp(spec)  # here, so that a profile's error comes before any process exists
    stub = exec_stub.stub_fd()  # made here, once per runtime process: the children only keep it open
    parent_end, child_end = socket_pair()
    fifo_fd = os.open(exec_fifo, os.O_RDWR | os.O_CLOEXEC)  # O_RDWR: opening never blocks, reading does
    start_fd = os.open(start_fifo, os.O_RDWR | os.O_CLOEXEC) if start_fifo is not None else None
    if spec.hooks.any():
        preload_hooks()
    pid = pidfd = waiter = None
    keep = {child_end.fileno(), fifo_fd, *(fd for fd in (stub, start_fd, console_fd) if fd is not None),
            *preserved_fds(preserve_fds)}
    try:
        cgroup_fd = cgroup.fd if cgroup is not None and cgroup.clone_into else None

        def init(first_stage: bool) -> None:
            parent_end.close()
            if first_stage:
                enter_child(stdio, keep, preserve_fds, syscalls)
            _container_init(spec, rootfs, plan, child_end, fifo_fd, syscalls, seccomp, start_fd, console_fd)

        def helper() -> None:
            parent_end.close()
            enter_child(stdio, keep | ({cgroup_fd} if cgroup_fd is not None else set()), preserve_fds, syscalls)
            _helper(spec, lambda: init(False), child_end, (fifo_fd, start_fd), syscalls, cgroup_fd)

        if needs_intermediate_stage(spec):
            waiter = syscalls.clone3(0).pid
            if waiter == 0:
                run_child(helper, child_end)
            child_end.close()
            pid = _receive(parent_end, "pid", waiter)["pid"]
            pidfd = syscalls.pidfd_open(pid)
        else:
            result = syscalls.clone3(new_namespace_flags(spec) | c.CLONE_PIDFD, cgroup_fd=cgroup_fd)
            if result.in_child:
                run_child(lambda: init(True), child_end)
            child_end.close()
            pid, pidfd, waiter = result.pid, result.pidfd, result.pid
        if on_forked is not None:
            on_forked(pid)
        if cgroup is not None and cgroup_fd is None:
            cgroup.cgroup.add_process(pid)  # before "go": the child has not run anything of the container yet
        for extra in extra_cgroups:
            extra.add_process(pid)
        write_id_maps(spec, pid)
        _send(parent_end, {"type": "go"})
        if spec.hooks.at_create():
            _receive(parent_end, "hooks", pid)
            state = create_hooks(pid) if create_hooks is not None else {}
            _send(parent_end, {"type": "hooks-done", "state": state})
        _receive(parent_end, "ready", pid)
        return ContainerProcess(pid=pid, pidfd=pidfd, channel=parent_end, waiter_pid=waiter)
    except BaseException:  # KeyboardInterrupt included: never leave a half-made container behind
        parent_end.close()
        child_end.close()
        _kill_and_reap(pid, pidfd, waiter, syscalls)
        raise
    finally:
        os.close(fifo_fd)
        if start_fd is not None:
            os.close(start_fd)  # from now on only the init holds it: its exec or exit is EOF for `start`


def enter_child(stdio: tuple[int | None, int | None, int | None], keep: set[int], preserve_fds: int,
                syscalls: Syscalls) -> None:
    """First steps of a forked runtime child that will become (or fork) a container process: non-dumpable (as root),
    the given stdio on 0, 1 and 2, every other descriptor but `keep` closed, the preserved ones inheritable."""
    if os.geteuid() == 0:
        syscalls.prctl(c.PR_SET_DUMPABLE, 0)
    for target, fd in enumerate(stdio):
        if fd is not None and fd != target:
            os.dup2(fd, target)  # inheritable, unlike every other descriptor Python opened
    close_fds_except(keep)
    inherit_preserved_fds(preserve_fds)


def commit(container: ContainerProcess, hook_state: dict | None = None) -> None:
    """Tell the init its container is recorded: from now on it outlives the runtime process that created it;
    `hook_state` is what its startContainer hooks will read."""
    _send(container.channel, {"type": "committed", **({"state": hook_state} if hook_state is not None else {})})


def abandon(container: ContainerProcess, syscalls: Syscalls | None = None) -> None:
    """SIGKILL and reap an init whose create failed after it was set up (its state could not be saved...)."""
    container.channel.close()
    _kill_and_reap(container.pid, container.pidfd, container.waiter_pid, syscalls or Syscalls())
    container.exit_status = -1


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


def _helper(spec: Spec, init: Callable[[], None], channel: _socket.socket, fifos: tuple[int, int | None],
            syscalls: Syscalls, cgroup_fd: int | None) -> NoReturn:
    join_namespaces(spec, syscalls)
    enter_time_namespace(spec, syscalls)
    container = syscalls.clone3(new_namespace_flags(spec), cgroup_fd=cgroup_fd)
    if container.in_child:
        run_child(init, channel)
    _send(channel, {"type": "pid", "pid": container.pid})
    # The parent reads EOF on the channel as "the container has exec'd": only the container may hold it now.
    channel.close()
    for fd in (fd for fd in fifos if fd is not None):  # start.fifo: EOF for `start` once only the init holds it
        os.close(fd)
    ignore_forwarded_signals()
    _, status = os.waitpid(container.pid, 0)
    exit_like(status)


def compiled_seccomp(spec: Spec) -> SeccompFilter | None:
    """linux.seccomp compiled for this machine, or None without one (SpecError naming the JSON path if invalid)."""
    if spec.linux.seccomp is None:
        return None
    from .seccomp_load import compiled_filter  # late: only a config with a filter pays for its modules
    return compiled_filter(spec.linux.seccomp)


def _container_init(spec: Spec, rootfs: str, plan: tuple, channel: _socket.socket, fifo_fd: int,
                    syscalls: Syscalls, seccomp: SeccompFilter | None = None, start_fd: int | None = None,
                    console_fd: int | None = None) -> None:
    if _receive_in_child(channel) is None:
        os._exit(0)  # the parent died before the maps were written: nobody wants this container any more
    if os.geteuid() != 0:
        syscalls.prctl(c.PR_SET_DUMPABLE, 0)  # see the module docstring (as root, enter_child did it already)
    cgroup_namespace = spec.linux.namespace("cgroup")
    if cgroup_namespace is not None and cgroup_namespace.path is None:
        syscalls.unshare(c.CLONE_NEWCGROUP)
    if _maps_root(spec):
        syscalls.setresgid(0, 0, 0)
        syscalls.setresuid(0, 0, 0)
    if spec.hostname is not None:
        syscalls.sethostname(spec.hostname)
    if spec.domainname is not None:
        syscalls.setdomainname(spec.domainname)
    network = spec.linux.namespace("network")
    if network is not None and network.path is None:
        syscalls.link_up("lo")  # as runc does (libcontainer's "loopback" network): a new netns has lo down
    if spec.process.oom_score_adj is not None:
        write_proc_file("/proc/self/oom_score_adj", str(spec.process.oom_score_adj), "process.oomScoreAdj")
    # Asked of the kernel before pivot_root: after it, /proc/sys is whatever the container's image put there.
    capabilities = last_capability(syscalls)
    if spec.hooks.at_create():
        ask = lambda: _send(channel, {"type": "hooks"}) or _receive_in_child(channel)  # noqa: E731
        apply_plan_with_hooks(spec, rootfs, plan, syscalls, ask)
    else:
        apply_rootfs_plan(plan, syscalls, rootfs)
    if console_fd is not None:  # after pivot_root: the pty is made in the container's own devpts
        set_up_console(console_fd, *(spec.process.console_size or (0, 0)))
    apply_personality(spec.linux.personality, syscalls)  # kept across execve, as the exec'd program must see it
    executable = set_up_process(spec.process, syscalls, last_cap=capabilities, seccomp=seccomp)
    check_exec_under(seccomp, channel.fileno())
    _send(channel, {"type": "ready"})
    committed = _receive_in_child(channel)
    if committed is None:
        os._exit(0)  # the runtime died before it recorded us: leave, rather than wait unseen for a start
    os.read(fifo_fd, 1)  # blocks until `start` writes
    if spec.hooks.start_container:
        run_start_hooks(spec, committed.get("state", {}), start_fd)
    exec_process(executable, spec.process, syscalls, report_fd=channel.fileno(), seccomp=seccomp)


def _maps_root(spec: Spec) -> bool:
    """In a new user namespace whose maps include container uid and gid 0, become root there (as runc does)."""
    user = spec.linux.namespace("user")
    return (user is not None and user.path is None
            and any(mapping.container_id == 0 for mapping in spec.linux.uid_mappings)
            and any(mapping.container_id == 0 for mapping in spec.linux.gid_mappings))


def run_child(work: Callable[[], None], channel: _socket.socket) -> NoReturn:
    """Run `work` in a forked child and leave through os._exit whatever happens: returning would run the
    parent's code (a pytest session) a second time."""
    status = 0
    # A collection would write to the header of every object the parent had, copying (and charging to the
    # container's cgroup) pages the child never needs; the child execs or exits soon anyway.
    gc.disable()
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


def socket_pair() -> tuple[_socket.socket, _socket.socket]:
    """A close-on-exec AF_UNIX SOCK_SEQPACKET pair: one message per send, EOF when every peer fd is closed."""
    return _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)


def _send(channel: _socket.socket, message: dict) -> None:
    channel.send(json.dumps(message).encode())


def _receive_in_child(channel: _socket.socket) -> dict | None:
    data = channel.recv(MESSAGE_SIZE)
    return json.loads(data) if data else None


def _receive(channel: _socket.socket, expected: str, pid: int) -> dict:
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
    failed = exec_stub.parse_report(data)
    if failed is not None:
        raise ContainerError(f"container process {pid}: execve of process.args[0] failed: "
                             f"{describe_errno(failed)}")
    message = json.loads(data)
    if message.get("type") == "error":
        raise ContainerError(message["message"])
    if message.get("type") != expected:
        raise ContainerError(f"container process {pid} sent {message!r} while {expected!r} was expected")
    return message


def _kill_and_reap(pid: int | None, pidfd: int | None, waiter: int | None, syscalls: Syscalls) -> None:
    """SIGKILL a half-made container and reap what the runtime forked (the init, or the helper waiting for it)."""
    try:
        if pidfd is not None:
            syscalls.pidfd_send_signal(pidfd, signal.SIGKILL)
        elif pid is not None:
            os.kill(pid, signal.SIGKILL)
    except OSError:
        pass  # already dead; the wait below reaps it
    if waiter is not None:
        try:
            os.waitpid(waiter, 0)
        except ChildProcessError:
            pass
    if pidfd is not None:
        os.close(pidfd)
