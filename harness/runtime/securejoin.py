"""Resolve a container path inside a rootfs directory the way the container would see it, refusing escapes."""

import errno
import os
import stat

from .errors import ContainerError

# The kernel's own limit on symlinks followed in one lookup (MAXSYMLINKS).
MAX_SYMLINKS = 40


def resolve_in_root(root: str, unsafe_path: str, what: str) -> str:
    """The host path of `unsafe_path` resolved inside `root`: `root` joined with relative_in_root's answer."""
    relative = relative_in_root(root, unsafe_path, what)
    return root if relative == "." else os.path.join(root, relative)


def relative_in_root(root: str, unsafe_path: str, what: str) -> str:
    """relative_in_root_found without its second half."""
    return relative_in_root_found(root, unsafe_path, what)[0]


def relative_in_root_found(root: str, unsafe_path: str, what: str) -> tuple[str, bool]:
    """The path of `unsafe_path` as resolved inside `root`, following symlinks as the container would.

    Like securejoin, an absolute symlink target is read relative to `root` (so `/var/run -> /run` stays inside).
    Unlike securejoin, which silently clamps `..` at the root, a `..` (in the path or in a symlink) that would
    climb above `root` raises ContainerError naming `what` (such as `mounts[3] (/sys/x)`): a mount destination
    written that way is meant to land outside the container. Missing trailing components are kept as written,
    so the caller can create them; `root` itself must be a real path (no symlinks in it). The answer is relative to
    `root` ("." for the root itself), with whether the path existed (its lstat answered).

    A check, not a guarantee: the rootfs may change after it (a sibling container sharing a volume swaps a symlink
    in), so callers then open the answer with openat2(RESOLVE_IN_ROOT) from a descriptor of `root` (rootfs_dir.py).
    """
    resolved: list[str] = []  # components below root, all existing directories or the final entry
    pending = _components(unsafe_path)
    pending.reverse()  # popped from the end
    followed = 0
    missing = False  # once a component is missing, the rest cannot be symlinks: no lstat for them
    while pending:
        component = pending.pop()
        if component == "..":
            if not resolved:
                raise ContainerError(f"{what}: {unsafe_path!r} resolves outside the container's root filesystem "
                                     f"{root}")
            resolved.pop()
            missing = False
            continue
        resolved.append(component)
        if missing:
            continue
        candidate = root + "/" + "/".join(resolved)
        try:
            is_link = stat.S_ISLNK(os.lstat(candidate).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            missing = True
            continue
        if not is_link:
            continue
        resolved.pop()
        followed += 1
        if followed > MAX_SYMLINKS:
            raise ContainerError(f"{what}: {unsafe_path!r}: too many levels of symbolic links "
                                 f"({errno.errorcode[errno.ELOOP]})")
        target = os.readlink(candidate)
        if target.startswith("/"):
            resolved = []  # absolute targets restart at the container's root, not the host's
        pending.extend(reversed(_components(target)))
    return "/".join(resolved) or ".", not missing


def _components(path: str) -> list[str]:
    return [part for part in path.split("/") if part not in ("", ".")]
