"""Run OCI hooks: each program with the container's state JSON on stdin, its own env, and a timeout that kills it."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping

from .errors import ContainerError
from .spec_hooks import Hook

# How much of a failed hook's stderr its error quotes: enough for the last lines, not a whole log.
OUTPUT_TAIL_BYTES = 1000


class HookError(ContainerError):
    """A hook could not be run, failed or timed out; the message names it (`hooks.createRuntime[1] (/bin/x): ...`)."""


def hook_state(oci_version: str, container_id: str, status: str, pid: int, bundle: str,
               annotations: Mapping[str, str] | None = None) -> dict:
    """The OCI state document a hook reads on stdin (runtime.md "State"); annotations only when there are some."""
    state = {"ociVersion": oci_version, "id": container_id, "status": status, "pid": pid,
             "bundle": os.path.abspath(bundle)}
    if annotations:
        state["annotations"] = dict(annotations)
    return state


def run_hooks(hooks: Iterable[Hook], state: dict) -> None:
    """Run `hooks` in order; the first failure raises HookError and the later ones do not run."""
    for hook in hooks:
        run_hook(hook, state)


def run_hooks_warning(hooks: Iterable[Hook], state: dict) -> list[str]:
    """Run every hook of `hooks`; a failure is a warning on stderr and the others still run (poststart, poststop:
    "the runtime MUST log a warning, but the remaining hooks and lifecycle continue"). Returns the warnings."""
    warnings = []
    for hook in hooks:
        try:
            run_hook(hook, state)
        except HookError as error:
            warnings.append(str(error))
            print(f"warning: {error}", file=sys.stderr, flush=True)
    return warnings


def run_hook(hook: Hook, state: dict) -> None:
    """Run one hook to its end: state JSON on stdin, argv from args, exactly its env, SIGKILLed at its timeout.

    The hook leads a process group of its own: on a timeout, a failure or an interruption the whole group is
    SIGKILLed and the hook reaped, so nothing it started is left behind. (A successful hook's background children
    are left alone: starting a helper is what some hooks are for.)
    """
    # Memory files rather than pipes: no pipe buffer for a hook that never reads its stdin to fill, and no
    # grandchild holding a pipe open to keep us waiting after the hook itself exited.
    stdin = _memory_file("hook-stdin", json.dumps(state).encode())
    stdout = _memory_file("hook-stdout")
    stderr = _memory_file("hook-stderr")
    try:
        try:
            process = subprocess.Popen(hook.argv(), executable=hook.path, env=_environment(hook.env), stdin=stdin,
                                       stdout=stdout, stderr=stderr, close_fds=True, process_group=0)
        except OSError as error:
            raise HookError(f"{hook.describe()}: cannot run it: {error.strerror or error}") from error
        status = _wait(process, hook)
        if status != 0:
            raise HookError(f"{hook.describe()}: {_describe_status(status)}{_tail(stderr) or _tail(stdout)}")
    finally:
        for fd in (stdin, stdout, stderr):
            os.close(fd)


def _wait(process: subprocess.Popen, hook: Hook) -> int:
    """Wait for the hook until its timeout; returns its exit code (negative: killed by that signal)."""
    try:
        pidfd = os.pidfd_open(process.pid)  # polls readable when the hook exits: no sleep-and-poll loop
        try:
            exited = select.select([pidfd], [], [], hook.timeout)[0]
        finally:
            os.close(pidfd)
        if not exited:
            _kill_group(process)
            raise HookError(f"{hook.describe()}: timed out after {hook.timeout} s")
        # Exited but not reaped yet (WNOWAIT): its pid, and so its process group id, cannot be reused meanwhile.
        found = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
        if found.si_code != os.CLD_EXITED or found.si_status != 0:
            _kill_group(process)  # a failed hook's helpers go with it
        return process.wait()
    except BaseException:
        if process.returncode is None:
            _kill_group(process)
        raise


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the hook's process group and reap the hook."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _environment(env: tuple[str, ...]) -> dict[str, str]:
    # Exactly the hook's env: nothing of the runtime's own environment leaks into it.
    return dict(entry.split("=", 1) for entry in env)


def _describe_status(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown"
        return f"killed by signal {-code} ({name})"
    return f"exited with status {code}"


def _memory_file(name: str, content: bytes = b"") -> int:
    fd = os.memfd_create(name, os.MFD_CLOEXEC)  # close-on-exec here; Popen dup2s it onto the hook's 0, 1 or 2
    if content:
        os.write(fd, content)
        os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _tail(fd: int) -> str:
    """The end of what the hook wrote to `fd`, as ": text" (empty if it wrote nothing)."""
    size = os.fstat(fd).st_size
    data = os.pread(fd, OUTPUT_TAIL_BYTES, max(0, size - OUTPUT_TAIL_BYTES)).decode(errors="replace").strip()
    if not data:
        return ""
    return f": {'...' if size > OUTPUT_TAIL_BYTES else ''}{data}"
