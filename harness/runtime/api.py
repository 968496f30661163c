"""The runtime as a library, like runc: create, start, run, wait, exec_in, kill, pause, resume, delete, stats, ps."""

from __future__ import annotations

import errno
import os
import select
import signal as signal_module

from .cgroup_config import cgroup_path
from .cgroup_manager import Cgroup
from .cgroup_stats import read_stats
from .cgroups import unified_root
from .console import connect_console_socket
from .container_cgroup import container_cgroup, destroy, set_up_cgroup
from .container_exec import exec_in_container
from .create_checks import check_console, check_supported
from .container_hooks import await_start_hooks, create_hooks_runner, kept_spec, make_start_fifo, open_start_outcome, \
    run_poststart, run_poststop, start_hooks_state
from .devices_v1 import devices_v1_for, planned_v1_devices_path, remove_v1_devices
from .errors import ContainerError, SpecError
from .fds import check_preserved_fds
from .network_spec import network_config, networks_exist
from .process import ContainerProcess, abandon, commit, confirm_exec, spawn_container
from .record import replace
from .rootfs_plan import rootfs_path
from .spec import CONFIG_FILE_NAME, Spec, parse_config_text, read_config_text
from .state import CREATED, CREATING, PAUSED, RUNNING, STOPPED, ContainerRecord, StateDir, container_pids, \
    process_start_time
from .syscalls import Syscalls

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing, which every CLI start would pay
if TYPE_CHECKING:
    from typing import IO  # a stream: a file descriptor, an object with fileno(), or None to inherit ours

# How long delete --force waits for a SIGKILLed container to be gone.
KILL_TIMEOUT_SECONDS = 10.0

# Containers this process created, by (state root, id): they are its children, so it can wait for them.
_children: dict[tuple[str, str], ContainerProcess] = {}


def create(bundle: str, container_id: str, root: str | None = None, syscalls: Syscalls | None = None,
           stdin: int | IO | None = None, stdout: int | IO | None = None, stderr: int | IO | None = None,
           preserve_fds: int = 0, console_socket: str | None = None) -> int:
    """Create a container from `bundle` (a directory with config.json); returns the init's host pid.

    The init is set up and waits for `start`. stdin/stdout/stderr (a file descriptor, or an object with
    fileno() such as an open file) replace the streams the container would inherit from this process;
    `preserve_fds` descriptors from 3 up are passed on too (runc's --preserve-fds), every other one is closed.
    With `process.terminal`, `console_socket` is the path of an AF_UNIX socket that receives the pty's master
    (runc's --console-socket); the container's stdio is then the pty's slave.
    Raises SpecError for a bad config, ContainerError otherwise; a failed create leaves no process, cgroup or
    state behind, and one whose creator is killed midway is seen by `list` and removed by `delete --force`.
    """
    states = StateDir(root)
    states.path(container_id)  # check the id before anything else
    bundle = os.path.realpath(bundle)
    if not os.path.isdir(bundle):
        raise ContainerError(f"bundle {bundle} is not a directory")
    # Read once: the text parsed is the text kept for `exec` (a later edit of the bundle changes nothing).
    config_path = os.path.join(bundle, CONFIG_FILE_NAME)
    text = read_config_text(config_path)
    spec = parse_config_text(text, config_path)
    check_supported(spec)
    network = network_config(spec.annotations, spec)
    rootfs = rootfs_path(spec, bundle)
    if not os.path.isdir(rootfs):
        raise ContainerError(f"root.path: {rootfs} is not a directory")
    check_preserved_fds(preserve_fds)
    check_console(spec, console_socket)
    states.reserve(container_id)
    placement = child = devices = console = None
    try:
        with states.locked(container_id):  # `delete` of this id waits until create is done, or its creator dead
            states.save_config(container_id, text)
            placement = set_up_cgroup(spec, container_id, syscalls)
            # Without cgroup v2 alone, the v1 devices controller enforces linux.resources.devices.
            devices = devices_v1_for(spec.linux.resources, spec.linux.cgroups_path, container_id)
            pid_namespace = spec.linux.namespace("pid")
            cgroup = placement.cgroup if placement is not None else None
            record = ContainerRecord(id=container_id, pid=0, bundle=bundle, rootfs=rootfs,
                                     oci_version=spec.oci_version, start_time=0,
                                     annotations=dict(spec.annotations),
                                     own_pid_namespace=pid_namespace is not None and pid_namespace.path is None,
                                     cgroup_root=cgroup.root if cgroup else None,
                                     cgroup_path=cgroup.path if cgroup else None,
                                     devices_v1_path=devices.path if devices else None, creating=True,
                                     hooks=spec.hooks.any())

            def forked(pid: int) -> None:
                nonlocal record
                started = process_start_time(pid)
                record = replace(record, pid=pid, start_time=started[0] if started else 0)
                states.save(record)  # from here `list` shows it "creating", and `delete --force` can kill it
                if network.bridged:  # before "go": the container's program never runs without its network
                    from .network import attach
                    attach(network, states.root, container_id, pid)

            if spec.process.terminal:
                console = connect_console_socket(console_socket)
            child = spawn_container(spec, bundle, rootfs, states.exec_fifo(container_id), syscalls,
                                    stdio=tuple(_fd(stream) for stream in (stdin, stdout, stderr)), cgroup=placement,
                                    preserve_fds=preserve_fds, on_forked=forked,
                                    extra_cgroups=(devices,) if devices else (),
                                    create_hooks=create_hooks_runner(spec, container_id, bundle),
                                    start_fifo=make_start_fifo(states, container_id, spec),
                                    console_fd=console.fileno() if console else None)
            states.save(replace(record, creating=False))
            commit(child, start_hooks_state(spec, container_id, child.pid, bundle))
    except BaseException:  # KeyboardInterrupt too: no process, cgroup or state dir may outlive a failed create
        if child is not None:
            abandon(child)
        if placement is not None:
            destroy(placement.cgroup)
        if devices is not None:
            devices.remove()
        if network.bridged:
            _release_network(states, container_id)
        states.remove(container_id)
        raise
    finally:
        if placement is not None:
            placement.close()  # the init is in the cgroup and the device program attached: the fd is done
        if console is not None:
            console.close()  # the init has sent the master over its copy (or failed, and create with it)
    _children[(states.root, container_id)] = child
    return child.pid


def start(container_id: str, root: str | None = None) -> None:
    """Let a created container exec its program; in the creating process, also wait until it has exec'd.

    With startContainer or poststart hooks, any process waits until the init has exec'd (a startContainer hook's
    failure is this call's error), then runs the poststart hooks, whose failures are only warnings on stderr.
    """
    states = StateDir(root)
    with states.locked(container_id):
        record = states.load(container_id)
        status = states.status(record)
        if status != CREATED:
            raise ContainerError(f"container {container_id!r} is {status}, only a created container can start")
        outcome = open_start_outcome(states, record)
        fifo = states.exec_fifo(container_id)
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as error:
            if outcome is not None:
                os.close(outcome)
            # ENXIO: no reader, the init died between the status check and here.
            raise ContainerError(f"container {container_id!r}: cannot open {fifo}: {error.strerror}") from error
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)
        os.unlink(fifo)  # from now on the status reads "running"
    if outcome is not None:
        await_start_hooks(outcome, states.start_fifo(container_id), record.pid)
    child = _children.get((states.root, container_id))
    if child is not None and child.channel.fileno() != -1:
        confirm_exec(child)
    run_poststart(states, record)


def wait(container_id: str, root: str | None = None) -> int:
    """Wait for a container this process created to exit; its exit status, 128+N if killed by signal N."""
    states = StateDir(root)
    child = _children.get((states.root, container_id))
    if child is None:
        raise ContainerError(f"container {container_id!r} was not created by this process, so its exit status "
                             "cannot be collected")
    return _reap(child)


def run(bundle: str, container_id: str, root: str | None = None, syscalls: Syscalls | None = None,
        stdin: int | IO | None = None, stdout: int | IO | None = None, stderr: int | IO | None = None,
        preserve_fds: int = 0) -> int:
    """Create, start and wait for a container, then delete it; returns its exit status (128+N for signal N)."""
    create(bundle, container_id, root, syscalls, stdin=stdin, stdout=stdout, stderr=stderr, preserve_fds=preserve_fds)
    try:
        start(container_id, root)
        return wait(container_id, root)
    finally:
        delete(container_id, force=True, root=root)


def kill(container_id: str, signal: int | str = signal_module.SIGTERM, root: str | None = None,
         all: bool = False) -> None:  # noqa: A002 (runc's flag name)
    """Send `signal` (a number, or a name like "KILL" or "SIGKILL") to the container's init; with `all`, to every
    process of the container, through its cgroup where it has one (SIGKILL then waits until they are gone)."""
    number = parse_signal(signal)
    states = StateDir(root)
    with states.locked(container_id):
        record = states.load(container_id)
        status = states.status(record)
        cgroup = container_cgroup(record.cgroup_root, record.cgroup_path)
        if all and cgroup is not None and cgroup.exists() and cgroup.procs():
            # Processes may outlive a stopped init (no pid namespace): the cgroup still finds them.
            if number == signal_module.SIGKILL:
                cgroup.kill()
            else:
                cgroup.signal_all(number)
            return
        if status == STOPPED:
            raise ContainerError(f"container {container_id!r} is not running")
        if all and cgroup is None:
            for pid in container_pids(record):
                _kill_pid(pid, number)
            return
        _signal(record, number)


def pause(container_id: str, root: str | None = None) -> None:
    """Freeze every process of a created or running container (its cgroup's cgroup.freeze); status "paused"."""
    states = StateDir(root)
    with states.locked(container_id):
        record = states.load(container_id)
        status = states.status(record)
        if status not in (CREATED, RUNNING):
            raise ContainerError(f"container {container_id!r} is {status}, only a created or running one can pause")
        _cgroup_of(record, "paused").freeze()


def resume(container_id: str, root: str | None = None) -> None:
    """Thaw a paused container."""
    states = StateDir(root)
    with states.locked(container_id):
        record = states.load(container_id)
        status = states.status(record)
        if status != PAUSED:
            raise ContainerError(f"container {container_id!r} is {status}, only a paused one can resume")
        _cgroup_of(record, "resumed").thaw()


def stats(container_id: str, root: str | None = None) -> dict:
    """The container's cgroup statistics: {"id", "cgroup", "processes", "cpu": {"stat"}, "memory": {"current",
    "events", ...}, "pids": {"current", "max", "events"}, ...} (see cgroup_stats.read_stats)."""
    states = StateDir(root)
    record = states.load(container_id)
    return {"id": container_id, **read_stats(_cgroup_of(record, "measured"))}


def delete(container_id: str, force: bool = False, root: str | None = None) -> None:
    """Remove a stopped or created container (a created one is killed); a running one needs `force`, and so does
    one whose creator died before recording it (status "creating", or no state at all)."""
    states = StateDir(root)
    with states.locked(container_id):
        try:
            record = states.load(container_id)
        except ContainerError:
            if not force:
                raise
            record = None  # a half-created container: its directory goes anyway
        if record is not None:
            status = states.status(record)
            if status in (RUNNING, PAUSED, CREATING) and not force:
                raise ContainerError(f"container {container_id!r} is {status}: stop it first, or use force")
            if status != STOPPED:
                # SIGKILL reaches a frozen (paused) init too.
                _signal(record, signal_module.SIGKILL, wait_seconds=KILL_TIMEOUT_SECONDS)
        child = _children.pop((states.root, container_id), None)
        if child is not None:
            _reap(child)
        spec = kept_spec(states, container_id) if record is not None and record.hooks else None
        if record is not None:
            destroy(container_cgroup(record.cgroup_root, record.cgroup_path))
            remove_v1_devices(record.devices_v1_path)
        else:
            planned = _planned_spec(states, container_id)
            if planned is not None:
                root = unified_root()
                destroy(Cgroup(root, cgroup_path(planned.linux.cgroups_path, container_id)) if root else None)
                remove_v1_devices(planned_v1_devices_path(planned.linux.resources, planned.linux.cgroups_path,
                                                          container_id))
        _release_network(states, container_id)  # by the container's id: a create that died mid-way leaves one too
        states.remove(container_id)
        if record is not None:
            run_poststop(record, spec)


def _release_network(states: StateDir, container_id: str) -> None:
    """The veth pair, address lease and (with its last container) bridge of a container; nothing to do, and no
    pyroute2 import, when no network was ever made."""
    if networks_exist():
        from .network import release
        release(states.root, container_id)


def _planned_spec(states: StateDir, container_id: str) -> Spec | None:
    """The config copy a create that died before its first record kept: where its cgroups would be made."""
    try:
        return parse_config_text(read_config_text(states.config_copy(container_id)), states.config_copy(container_id))
    except (OSError, SpecError):
        return None  # it died before that too: no cgroup was made


def state(container_id: str, root: str | None = None) -> dict:
    """The OCI state of a container: ociVersion, id, status, pid, bundle, rootfs, created, owner, annotations."""
    states = StateDir(root)
    return states.oci_state(states.load(container_id))


def list_containers(root: str | None = None) -> list[dict]:
    """The OCI state of every container under `root` (those still being created are left out)."""
    states = StateDir(root)
    found = []
    for container_id in states.ids():
        try:
            found.append(states.oci_state(states.load(container_id)))
        except ContainerError:
            continue  # created or deleted while we looked
    return found


def ps(container_id: str, root: str | None = None) -> list[int]:
    """The host pids of the container's processes (empty when it has stopped)."""
    states = StateDir(root)
    record = states.load(container_id)
    cgroup = container_cgroup(record.cgroup_root, record.cgroup_path)
    if cgroup is not None:
        return cgroup.procs() if cgroup.exists() else []
    return [] if states.status(record) == STOPPED else container_pids(record)


def exec_in(container_id: str, args: list[str], root: str | None = None, preserve_fds: int = 0) -> int:
    """Run `args` inside a running container (its namespaces, and the env, cwd, user of its config as created);
    returns the exit status."""
    return exec_in_container(container_id, args, root, preserve_fds=preserve_fds)


def parse_signal(signal: int | str) -> int:
    """A signal number from 9, "9", "KILL" or "SIGKILL"."""
    if isinstance(signal, int):
        return signal
    text = signal.strip().upper()
    if text.isdigit():
        return int(text)
    name = text if text.startswith("SIG") else "SIG" + text
    try:
        return signal_module.Signals[name].value
    except KeyError as error:
        raise ContainerError(f"unknown signal {signal!r}") from error


def _signal(record: ContainerRecord, number: int, wait_seconds: float | None = None) -> None:
    """Signal the init through a pidfd; with `wait_seconds`, also wait until it has exited."""
    if record.pid <= 0:
        return  # never forked
    syscalls = Syscalls()
    try:
        pidfd = syscalls.pidfd_open(record.pid)
    except OSError as error:
        if error.errno == errno.ESRCH:
            return  # exited since the status check
        raise
    try:
        # The pidfd pins the process: if it is still the one that started at start_time, the signal reaches it.
        found = process_start_time(record.pid)
        if found is None or found[0] != record.start_time:
            return
        syscalls.pidfd_send_signal(pidfd, number)
        # A pidfd polls readable once its process has exited, whoever its parent is.
        if wait_seconds is not None and not select.select([pidfd], [], [], wait_seconds)[0]:
            raise ContainerError(f"container {record.id!r} (pid {record.pid}) survived signal {number} for "
                                 f"{wait_seconds:.0f} s")
    finally:
        os.close(pidfd)


def _cgroup_of(record: ContainerRecord, verb: str) -> Cgroup:
    cgroup = container_cgroup(record.cgroup_root, record.cgroup_path)
    if cgroup is None:
        raise ContainerError(f"container {record.id!r} has no cgroup (this host does not run cgroup v2 alone), so "
                             f"it cannot be {verb}")
    if not cgroup.exists():
        raise ContainerError(f"container {record.id!r}: its cgroup {cgroup.directory} is gone")
    return cgroup


def _kill_pid(pid: int, number: int) -> None:
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        pass  # exited since it was listed


def _fd(stream: int | IO | None) -> int | None:
    return stream if stream is None or isinstance(stream, int) else stream.fileno()


def _reap(child: ContainerProcess) -> int:
    """waitpid the init once (later calls return the first answer) and close its descriptors."""
    if child.exit_status is None:
        _, status = os.waitpid(child.waiter_pid, 0)
        code = os.waitstatus_to_exitcode(status)
        child.exit_status = 128 - code if code < 0 else code
        os.close(child.pidfd)
        child.channel.close()
    return child.exit_status
