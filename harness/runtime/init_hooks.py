"""The hooks a container's init runs itself: createContainer before pivot_root, startContainer before its exec."""

from __future__ import annotations

import os
from collections.abc import Callable

from .errors import ContainerError
from .mount_steps import PivotRoot
from .rootfs import apply_rootfs_plan
from .spec import Spec
from .syscalls import Syscalls

# A write of at most this much to a FIFO is atomic and cannot block on an empty one (PIPE_BUF).
PIPE_ATOMIC_BYTES = 4096


def preload_hooks() -> object:
    """Import the hook runner in the runtime, before the fork, rather than in each init."""
    from . import hooks
    return hooks


def split_at_pivot_root(plan: tuple) -> tuple[tuple, tuple]:
    """The mount plan before its PivotRoot step, and from it on (all of it first when it has none)."""
    split = next((index for index, step in enumerate(plan) if isinstance(step, PivotRoot)), len(plan))
    return plan[:split], plan[split:]


def apply_plan_with_hooks(spec: Spec, rootfs: str, plan: tuple, syscalls: Syscalls,
                          ask_runtime: Callable[[], dict | None]) -> None:
    """The mount plan up to pivot_root, then the create-time hooks, then pivot_root.

    `ask_runtime()` has the runtime run prestart and createRuntime (in its own namespaces) and returns its answer,
    {"type": "hooks-done", "state"} (None: it died). The state is for the createContainer hooks, which run here: in
    the container's namespaces, before pivot_root ("after the runtime environment has been created ... but before
    the pivot_root", config.md), so their path resolves in the runtime's filesystem, as runc runs them.
    """
    from .hooks import run_hooks
    before, rest = split_at_pivot_root(plan)
    apply_rootfs_plan(before, syscalls, rootfs)
    answer = ask_runtime()
    if answer is None:
        os._exit(0)  # the runtime died (or gave up on us) while its hooks ran: nobody wants this container
    if answer.get("type") != "hooks-done":
        raise ContainerError(f"the runtime sent {answer!r} while 'hooks-done' was expected")
    run_hooks(spec.hooks.create_container, answer["state"])
    apply_rootfs_plan(rest, syscalls, rootfs)


def run_start_hooks(spec: Spec, state: dict, start_fd: int | None) -> None:
    """The startContainer hooks, in the container after `start`, with the credentials its program gets (as runc).

    With startContainer or poststart hooks, `create` makes start.fifo in the state dir, which the init holds open
    (O_RDWR, close-on-exec) like exec.fifo. Any `start`, in whatever process, opens it for reading before it writes
    exec.fifo, and reads it to EOF: EOF alone means the init has exec'd (its end closed on exec); text is the error
    of a failed startContainer hook. Only then does `start` run the poststart hooks.

    A failure is written to start.fifo for whichever process runs `start` to report it, and raised: the init then
    exits and the container's program never runs ("stop the container", runtime.md).
    """
    from .hooks import HookError, run_hooks
    try:
        run_hooks(spec.hooks.start_container, state)
    except HookError as error:
        if start_fd is not None:
            os.write(start_fd, str(error).encode()[:PIPE_ATOMIC_BYTES])
        raise
