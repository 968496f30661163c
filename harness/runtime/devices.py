"""The minimal /dev of a container: the host's basic device nodes bind-mounted in, and the usual symlinks."""

from . import constants as c
from .mount_steps import CREATE_FILE, MountStep, Step, Symlink

# The nodes runc creates in every container (libcontainer/specconv AllowedDevices), minus /dev/console,
# which only a container with a terminal gets.
DEFAULT_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")

# link -> target, as runc's setupDevSymlinks makes them.
DEFAULT_SYMLINKS = (
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
    ("/dev/core", "/proc/kcore"),
)


def device_steps() -> list[Step]:
    """Mount steps that bind each host node over an empty file in the container's /dev, then the symlinks.

    Binding (rather than mknod) works the same inside a user namespace, where mknod is refused, and needs no
    knowledge of major/minor numbers. The bind mount keeps the host node's permissions.
    """
    steps: list[Step] = [MountStep(f"device /dev/{name}", f"/dev/{name}", source=f"/dev/{name}", flags=c.MS_BIND,
                             create=CREATE_FILE, optional=True) for name in DEFAULT_DEVICES]
    steps.extend(Symlink(f"symlink {link}", link, target) for link, target in DEFAULT_SYMLINKS)
    # The devpts mount brings its own ptmx; /dev/ptmx must lead there, whatever the rootfs had.
    steps.append(Symlink("symlink /dev/ptmx", "/dev/ptmx", "pts/ptmx", replace=True))
    return steps
