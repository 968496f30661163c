"""The steps of a mount plan, as plain frozen records that rootfs.py executes in order."""

from .record import record
from .spec_linux import IdMapping

# What a step's mount point is created as when missing: a directory, an empty file, or like the bind source.
CREATE_DIR, CREATE_FILE, CREATE_LIKE_SOURCE = "dir", "file", "like-source"


@record(frozen=True)
class MountStep:
    """One mount(2). `target` is a container path, opened inside the rootfs and mounted onto through its descriptor
    (rootfs_dir.py), or a host path if not `in_rootfs`.

    `what` names the step in errors (`mounts[2] (/dev/pts)`). `keep_locked_flags` ORs in the nosuid/nodev/noexec
    the mount already has, because a remount inside a user namespace may not clear them (EPERM).
    `optional` skips the step when the source does not exist (a host without /dev/tty).
    """

    what: str
    target: str
    source: str | None = None
    fstype: str | None = None
    flags: int = 0
    data: str | None = None
    in_rootfs: bool = True
    create: str | None = None
    keep_locked_flags: bool = False
    optional: bool = False


@record(frozen=True)
class IdmappedBind:
    """An idmapped bind mount (idmap_mount.py): `source` cloned with open_tree (the whole tree if `recursive`),
    idmapped with mount_setattr through a user namespace holding the mappings, and moved onto the container path
    `target`. The ro, nosuid, ... remount and propagation changes follow as MountSteps. `mappings_path` names the
    mappings in errors (`mounts[2].uidMappings`)."""

    what: str
    target: str
    source: str
    recursive: bool
    uid_mappings: tuple[IdMapping, ...]
    gid_mappings: tuple[IdMapping, ...]
    mappings_path: str
    create: str = CREATE_LIKE_SOURCE


@record(frozen=True)
class Symlink:
    """Create the symlink `link` (a container path) pointing at `target`; `replace` removes what is there first."""

    what: str
    link: str
    target: str
    replace: bool = False


@record(frozen=True)
class MaskPath:
    """Hide a container path: the null device (checked to be 1:3) bound over a file, an empty read-only tmpfs over a
    directory."""

    what: str
    path: str


@record(frozen=True)
class ReadonlyPath:
    """Bind a container path onto itself and remount it read-only."""

    what: str
    path: str


@record(frozen=True)
class WriteFile:
    """Write `value` to an existing container file (a sysctl under /proc/sys)."""

    what: str
    path: str
    value: str


@record(frozen=True)
class PivotRoot:
    """Make `rootfs` the root: chdir there, pivot_root(".", "."), then detach the old root stacked on top."""

    what: str
    rootfs: str


@record(frozen=True)
class DeviceNode:
    """mknod a character device `path` (a container path), mode 0666 whatever the umask; an existing one stays."""

    what: str
    path: str
    major: int
    minor: int


Step = MountStep | IdmappedBind | Symlink | MaskPath | ReadonlyPath | WriteFile | PivotRoot | DeviceNode

