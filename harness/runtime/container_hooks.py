"""The runtime's side of OCI hooks in create, start and delete (the init's side is init_hooks.py)."""

from __future__ import annotations

import os
import select
import sys
from collections.abc import Callable

from .errors import ContainerError, SpecError
from .spec import Spec, parse_config_text, read_config_text
from .state import CREATED, CREATING, RUNNING, STOPPED, ContainerRecord, StateDir

# How long a failed `start` waits for the init, which exits right after its startContainer hook failed.
EXIT_TIMEOUT_SECONDS = 10.0


def create_hooks_runner(spec: Spec, container_id: str, bundle: str) -> Callable[[int], dict] | None:
    """What spawn_container calls when the init stops before pivot_root: prestart (deprecated) then createRuntime,
    in the runtime's namespaces, while the init waits; None when the config has no create-time hooks."""
    if not spec.hooks.at_create():
        return None
    from .hooks import hook_state, run_hooks

    def run(pid: int) -> dict:
        state = hook_state(spec.oci_version, container_id, CREATING, pid, bundle, spec.annotations)
        run_hooks(spec.hooks.prestart + spec.hooks.create_runtime, state)
        return state
    return run


def start_hooks_state(spec: Spec, container_id: str, pid: int, bundle: str) -> dict | None:
    """The state the init's startContainer hooks read ("created", the host pid); None without such hooks."""
    if not spec.hooks.start_container:
        return None
    from .hooks import hook_state
    return hook_state(spec.oci_version, container_id, CREATED, pid, bundle, spec.annotations)


def make_start_fifo(states: StateDir, container_id: str, spec: Spec) -> str | None:
    """start.fifo, for a config whose `start` must wait for the exec (startContainer or poststart hooks)."""
    if not (spec.hooks.start_container or spec.hooks.poststart):
        return None
    path = states.start_fifo(container_id)
    os.mkfifo(path, 0o600)
    return path


def open_start_outcome(states: StateDir, record: ContainerRecord) -> int | None:
    """start.fifo opened for reading, before `start` writes exec.fifo: an init that fails a startContainer hook
    and exits at once leaves its message there for us. None when the container has none."""
    path = states.start_fifo(record.id)
    if not record.hooks or not os.path.exists(path):
        return None
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # non-blocking: the open must not wait
    os.set_blocking(fd, True)  # the reads must: EOF comes when the init has exec'd or died
    return fd


def await_start_hooks(fd: int, path: str, pid: int) -> None:
    """Read start.fifo to EOF (the init exec'd, or died): any text is a startContainer hook's error, raised once
    the init (`pid`) is gone, so that the container reads "stopped" when `start` returns."""
    try:
        message = b""
        while chunk := os.read(fd, 4096):
            message += chunk
    finally:
        os.close(fd)
        os.unlink(path)
    if message:
        _wait_gone(pid)
        raise ContainerError(message.decode(errors="replace"))


def _wait_gone(pid: int) -> None:
    # The init closes start.fifo while it exits, a moment before it is a zombie: wait for that moment.
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        select.select([pidfd], [], [], EXIT_TIMEOUT_SECONDS)
    finally:
        os.close(pidfd)


def run_poststart(states: StateDir, record: ContainerRecord) -> None:
    """The poststart hooks, after the user process has started, before `start` returns. runtime.md: "If any
    poststart hook fails, the runtime MUST log a warning, but the remaining hooks and lifecycle continue as if the
    hook had succeeded." """
    spec = kept_spec(states, record.id) if record.hooks else None
    if spec is None or not spec.hooks.poststart:
        return
    from .hooks import hook_state, run_hooks_warning
    run_hooks_warning(spec.hooks.poststart, hook_state(record.oci_version, record.id, RUNNING, record.pid,
                                                       record.bundle, record.annotations))


def run_poststop(record: ContainerRecord, spec: Spec | None) -> None:
    """The poststop hooks, "after the container is deleted but before the delete operation returns" (config.md);
    a failure is a warning and the rest continues (runtime.md). pid 0, as `state` reports a stopped container."""
    if spec is None or not spec.hooks.poststop:
        return
    from .hooks import hook_state, run_hooks_warning
    run_hooks_warning(spec.hooks.poststop, hook_state(record.oci_version, record.id, STOPPED, 0, record.bundle,
                                                      record.annotations))


def kept_spec(states: StateDir, container_id: str) -> Spec | None:
    """The config `create` kept, for its hooks; None (with a warning) if it cannot be read any more."""
    path = states.config_copy(container_id)
    try:
        return parse_config_text(read_config_text(path), path)
    except (OSError, SpecError) as error:
        print(f"warning: container {container_id!r}: its hooks cannot run: {error}", file=sys.stderr, flush=True)
        return None
