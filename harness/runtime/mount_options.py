"""Split a spec mount's `options` into mount(2) flags, propagation flags and filesystem data, as runc does."""

from . import constants as c
from .errors import SpecError
from .record import record

# Options that set a flag, and those that clear one (runc's parseMountOptions table).
_SETS = {
    "ro": c.MS_RDONLY, "nosuid": c.MS_NOSUID, "nodev": c.MS_NODEV, "noexec": c.MS_NOEXEC,
    "sync": c.MS_SYNCHRONOUS, "dirsync": c.MS_DIRSYNC, "remount": c.MS_REMOUNT, "mand": c.MS_MANDLOCK,
    "noatime": c.MS_NOATIME, "nodiratime": c.MS_NODIRATIME, "bind": c.MS_BIND, "rbind": c.MS_BIND | c.MS_REC,
    "relatime": c.MS_RELATIME, "strictatime": c.MS_STRICTATIME, "silent": c.MS_SILENT,
    "iversion": c.MS_I_VERSION, "lazytime": c.MS_LAZYTIME, "nosymfollow": c.MS_NOSYMFOLLOW,
}
_CLEARS = {
    "rw": c.MS_RDONLY, "suid": c.MS_NOSUID, "dev": c.MS_NODEV, "exec": c.MS_NOEXEC, "async": c.MS_SYNCHRONOUS,
    "nomand": c.MS_MANDLOCK, "atime": c.MS_NOATIME, "diratime": c.MS_NODIRATIME, "norelatime": c.MS_RELATIME,
    "nostrictatime": c.MS_STRICTATIME, "noiversion": c.MS_I_VERSION, "nolazytime": c.MS_LAZYTIME,
    "symfollow": c.MS_NOSYMFOLLOW, "loud": c.MS_SILENT,
}
PROPAGATIONS = {
    "private": c.MS_PRIVATE, "rprivate": c.MS_PRIVATE | c.MS_REC,
    "shared": c.MS_SHARED, "rshared": c.MS_SHARED | c.MS_REC,
    "slave": c.MS_SLAVE, "rslave": c.MS_SLAVE | c.MS_REC,
    "unbindable": c.MS_UNBINDABLE, "runbindable": c.MS_UNBINDABLE | c.MS_REC,
}
# Recursive mount_setattr options (runc 1.1: "rro", "rnosuid", ...) and idmapped mounts are not implemented.
_REFUSED = ("rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec", "rnodiratime", "rdiratime",
            "rrelatime", "rnorelatime", "rnoatime", "ratime", "rstrictatime", "rnostrictatime", "rnosymfollow",
            "rsymfollow", "idmap", "ridmap", "tmpcopyup")

# Flags a bind mount ignores on its first mount(2): they need a second, remounting call.
REMOUNT_FLAGS = (c.MS_RDONLY | c.MS_NOSUID | c.MS_NODEV | c.MS_NOEXEC | c.MS_SYNCHRONOUS | c.MS_DIRSYNC
                 | c.MS_NOATIME | c.MS_NODIRATIME | c.MS_RELATIME | c.MS_STRICTATIME | c.MS_NOSYMFOLLOW)


@record(frozen=True)
class MountOptions:
    """`flags` for mount(2); `propagation` (MS_PRIVATE|MS_REC...) for a separate call; `data` the rest, comma-joined."""

    flags: int = 0
    propagation: tuple[int, ...] = ()
    data: str | None = None

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & c.MS_BIND)

    @property
    def is_recursive_bind(self) -> bool:
        return self.flags & (c.MS_BIND | c.MS_REC) == c.MS_BIND | c.MS_REC


def parse_mount_options(options: tuple[str, ...], path: str) -> MountOptions:
    """Parse the options of the spec mount at JSON `path` (like `mounts[2]`); unknown words become data."""
    flags = 0
    propagation: list[int] = []
    data: list[str] = []
    for index, option in enumerate(options):
        if option in _SETS:
            flags |= _SETS[option]
        elif option in _CLEARS:
            flags &= ~_CLEARS[option]
        elif option in PROPAGATIONS:
            propagation.append(PROPAGATIONS[option])
        elif option in _REFUSED:
            raise SpecError(f"{path}.options[{index}]", f'the mount option "{option}" is not supported')
        elif option:
            # Filesystem-specific (mode=755, size=65536k, newinstance, gid=5): the kernel's data string.
            data.append(option)
    return MountOptions(flags=flags, propagation=tuple(propagation), data=",".join(data) or None)


def mount_option_names() -> set[str]:
    """Every option word that sets or clears a mount flag (the features document lists them with PROPAGATIONS)."""
    return set(_SETS) | set(_CLEARS)
