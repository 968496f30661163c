"""What the container's `linux.resources` asks of cgroup v2, checked against the controllers the host really has."""

import os

from .errors import ContainerError
from .spec_resources import Resources

# OCI resources field -> (its JSON name, the cgroup v2 controller that enforces it).
_CONTROLLERS = {
    "memory": ("memory", "memory"),
    "cpu": ("cpu", "cpu"),
    "pids": ("pids", "pids"),
    "block_io": ("blockIO", "io"),
}


def cgroup2_mount_point(mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """Where the unified (v2) hierarchy is mounted, if anywhere: /sys/fs/cgroup, or /sys/fs/cgroup/unified on a
    v1/v2 hybrid host."""
    with open(mountinfo, encoding="utf-8") as lines:
        for line in lines:
            fields = line.split()
            separator = fields.index("-")
            if fields[separator + 1] == "cgroup2":
                return fields[4].replace("\\040", " ")
    return None


def available_controllers(mount_point: str) -> set[str]:
    """The controllers the root of the v2 hierarchy offers (cgroup.controllers); empty on a hybrid host whose
    controllers are all bound to v1 hierarchies."""
    with open(os.path.join(mount_point, "cgroup.controllers"), encoding="ascii") as controllers:
        return set(controllers.read().split())


def check_resources(resources: Resources | None, mountinfo: str = "/proc/self/mountinfo") -> None:
    """Refuse a spec that asks for resource limits, with the reason; let the device rules alone pass.

    Device rules are not enforced: cgroup v2 has no devices controller, it takes an eBPF program attached to the
    container's cgroup, and a host without a v2 hierarchy of its own (like a v1/v2 hybrid) has nowhere to attach
    one. runc's default config carries a deny-all rule, and the container's /dev only holds the nodes we bind
    into it anyway, so skipping the program keeps the default config runnable.
    """
    if resources is None:
        return
    asked = [(json_name, controller) for attribute, (json_name, controller) in _CONTROLLERS.items()
             if _asks_for_limits(getattr(resources, attribute))]
    if not asked:
        return
    json_name, controller = asked[0]
    path = f"linux.resources.{json_name}"
    mount_point = cgroup2_mount_point(mountinfo)
    if mount_point is None:
        raise ContainerError(f"{path}: this host has no cgroup v2 hierarchy, so no {controller} limit can be set")
    controllers = available_controllers(mount_point)
    if controller not in controllers:
        offered = " ".join(sorted(controllers)) or "no controllers"
        raise ContainerError(f"{path}: the host's cgroup v2 hierarchy at {mount_point} has {offered} "
                             f"(cgroup.controllers), so its {controller} limits cannot be applied")
    raise ContainerError(f"{path}: cgroup limits are not implemented by this runtime yet")


def _asks_for_limits(settings: object) -> bool:
    """Whether a controller's settings hold any value (a dataclass with every field None or False asks nothing)."""
    if settings is None:
        return False
    return any(value not in (None, False, ()) for value in vars(settings).values())
