"""Resolve a container path inside a rootfs directory the way the container would see it, refusing escapes."""

import errno
import os

from .errors import ContainerError

# The kernel's own limit on symlinks followed in one lookup (MAXSYMLINKS).
MAX_SYMLINKS = 40


def resolve_in_root(root: str, unsafe_path: str, what: str) -> str:
    """The host path of `unsafe_path` resolved inside `root`: `root` joined with relative_in_root's answer."""
    relative = relative_in_root(root, unsafe_path, what)
    return root if relative == "." else os.path.join(root, relative)


def relative_in_root(root: str, unsafe_path: str, what: str) -> str:
    """The path of `unsafe_path` as resolved inside `root`, following symlinks as the container would.

    Like securejoin, an absolute symlink target is read relative to `root` (so `/var/run -> /run` stays inside).
    Unlike securejoin, which silently clamps `..` at the root, a `..` (in the path or in a symlink) that would
    climb above `root` raises ContainerError naming `what` (such as `mounts[3] (/sys/x)`): a mount destination
    written that way is meant to land outside the container. Missing trailing components are kept as written,
    so the caller can create them; `root` itself must be a real path (no symlinks in it). The answer is relative to
    `root` ("." for the root itself).

    A check, not a guarantee: the rootfs may change after it (a sibling container sharing a volume swaps a symlink
    in), so callers then open the answer with openat2(RESOLVE_IN_ROOT) from a descriptor of `root` (rootfs_dir.py).
    """
    resolved: list[str] = []  # components below root, all existing directories or the final entry
    pending = _components(unsafe_path)
    followed = 0
    while pending:
        component = pending.pop(0)
        if component == "..":
            if not resolved:
                raise ContainerError(f"{what}: {unsafe_path!r} resolves outside the container's root filesystem "
                                     f"{root}")
            resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, component)
        if not os.path.islink(candidate):
            resolved.append(component)
            continue
        followed += 1
        if followed > MAX_SYMLINKS:
            raise ContainerError(f"{what}: {unsafe_path!r}: too many levels of symbolic links "
                                 f"({errno.errorcode[errno.ELOOP]})")
        target = os.readlink(candidate)
        if target.startswith("/"):
            resolved = []  # absolute targets restart at the container's root, not the host's
        pending = _components(target) + pending
    return "/".join(resolved) or "."


def _components(path: str) -> list[str]:
    return [part for part in path.split("/") if part not in ("", ".")]
