"""The descriptors a container's process may hold: everything else the runtime had open is closed first.

Why (CVE-2024-21626): a directory descriptor of the host (the cgroup directory, a caller's shell fd) still open
when the container's cwd is applied makes `process.cwd = /proc/self/fd/N` a working directory on the host, and
`..` from there walks the host's tree. Close-on-exec is not enough, since chdir happens before the exec; so the
runtime's children close every descriptor they do not need before they touch anything of the container.
"""

import os

from .errors import ContainerError

FIRST_PRESERVED_FD = 3  # runc's --preserve-fds N passes 3 .. 3+N-1 on, after stdio
# close_range's "to the end": CPython's os.closerange maps to close_range(2) where the kernel has it.
_LAST_FD = 2**31 - 1


def close_fds_except(keep: set[int]) -> None:
    """Close every descriptor of this process but those in `keep` (and 0, 1, 2)."""
    low = 0
    for fd in sorted(keep | {0, 1, 2}):
        if fd > low:
            os.closerange(low, fd)
        low = max(low, fd + 1)
    os.closerange(low, _LAST_FD)


def preserved_fds(count: int) -> set[int]:
    """The descriptors `--preserve-fds count` hands to the container."""
    return set(range(FIRST_PRESERVED_FD, FIRST_PRESERVED_FD + count))


def check_preserved_fds(count: int, what: str = "preserve_fds") -> None:
    """Refuse a count whose descriptors are not all open here: the runtime's own would land in the gap."""
    if count < 0:
        raise ContainerError(f"{what}: must be 0 or more, got {count}")
    for fd in sorted(preserved_fds(count)):
        try:
            os.fstat(fd)
        except OSError as error:
            raise ContainerError(f"{what}={count}: descriptor {fd} is not open in the runtime "
                             f"({error.strerror}); open 3 .. {2 + count} or pass a smaller count") from error


def inherit_preserved_fds(count: int) -> None:
    """Clear close-on-exec on the preserved descriptors, as runc does: the caller asked for them to reach the exec."""
    for fd in sorted(preserved_fds(count)):
        try:
            os.set_inheritable(fd, True)
        except OSError:
            pass  # closed since the check: nothing to pass on
