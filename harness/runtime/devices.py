"""The minimal /dev of a container: the basic nodes (made, or bound in a user namespace) and the symlinks."""

from . import constants as c
from .mount_steps import CREATE_FILE, DeviceNode, MountStep, Step, Symlink

# The nodes runc creates in every container (libcontainer/specconv AllowedDevices), minus /dev/console, which only
# a container with a terminal gets: name -> (major, minor) of the character device.
DEFAULT_DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}

# link -> target, as runc's setupDevSymlinks makes them.
DEFAULT_SYMLINKS = (
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
    ("/dev/core", "/proc/kcore"),
)


def device_steps(in_user_namespace: bool) -> list[Step]:
    """Steps that make each default node in the container's /dev, then the symlinks.

    As runc: mknod the nodes, unless the container has its own user namespace, where the kernel refuses mknod;
    there the host's nodes are bound over empty files instead (keeping the host node's permissions).
    """
    if in_user_namespace:
        steps: list[Step] = [MountStep(f"device /dev/{name}", f"/dev/{name}", source=f"/dev/{name}",
                                       flags=c.MS_BIND, create=CREATE_FILE, optional=True)
                             for name in DEFAULT_DEVICES]
    else:
        steps = [DeviceNode(f"device /dev/{name}", f"/dev/{name}", major, minor)
                 for name, (major, minor) in DEFAULT_DEVICES.items()]
    steps.extend(Symlink(f"symlink {link}", link, target) for link, target in DEFAULT_SYMLINKS)
    # The devpts mount brings its own ptmx; /dev/ptmx must lead there, whatever the rootfs had.
    steps.append(Symlink("symlink /dev/ptmx", "/dev/ptmx", "pts/ptmx", replace=True))
    return steps
