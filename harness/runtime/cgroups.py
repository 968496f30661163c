"""Where containers get cgroups (a host running cgroup v2 alone), and what `linux.resources` asks of that host."""

import os

from .cgroup_config import ALWAYS_ENABLED, asks_for_limits, needed_controllers
from .errors import ContainerError
from .spec_resources import Resources

# Where a host running cgroup v2 alone mounts it (runc's IsCgroup2UnifiedMode looks at the same place).
UNIFIED_ROOT = "/sys/fs/cgroup"
MOUNTINFO = "/proc/self/mountinfo"
# Controller -> the JSON path of the settings that need it, for error messages.
_CONTROLLER_PATHS = {
    "memory": "linux.resources.memory",
    "cpu": "linux.resources.cpu",
    "cpuset": "linux.resources.cpu",
    "pids": "linux.resources.pids",
    "io": "linux.resources.blockIO",
}


def cgroup2_mount_point(mountinfo: str = MOUNTINFO) -> str | None:
    """Where the unified (v2) hierarchy is mounted, if anywhere: /sys/fs/cgroup, or /sys/fs/cgroup/unified on a
    v1/v2 hybrid host."""
    with open(mountinfo, encoding="utf-8") as lines:
        for line in lines:
            fields = line.split()
            separator = fields.index("-")
            if fields[separator + 1] == "cgroup2":
                return fields[4].replace("\\040", " ")
    return None


def unified_root(mountinfo: str = MOUNTINFO) -> str | None:
    """/sys/fs/cgroup when cgroup v2 is mounted there (the host runs v2 alone), else None (v1 or hybrid host).

    Only then do containers get cgroups: on a hybrid host the v2 hierarchy at /sys/fs/cgroup/unified has no
    controllers (they are bound to the v1 hierarchies), so it could hold containers but never limit them.
    """
    try:
        mount_point = cgroup2_mount_point(mountinfo)
    except FileNotFoundError:
        return None
    return mount_point if mount_point == UNIFIED_ROOT else None


def available_controllers(mount_point: str) -> set[str]:
    """The controllers the root of the v2 hierarchy offers (cgroup.controllers); empty on a hybrid host whose
    controllers are all bound to v1 hierarchies."""
    with open(os.path.join(mount_point, "cgroup.controllers"), encoding="ascii") as controllers:
        return set(controllers.read().split())


def asked_controllers(resources: Resources | None) -> list[str]:
    """The controllers the spec's limits need (memory and pids only if it sets memory or pids limits)."""
    if resources is None:
        return []
    asked = [name for name in needed_controllers(resources) if name not in ALWAYS_ENABLED]
    if resources.memory is not None and asks_for_limits(resources.memory):
        asked.insert(0, "memory")
    if resources.pids is not None:
        asked.append("pids")
    return asked


def check_resources(resources: Resources | None, mountinfo: str = MOUNTINFO) -> None:
    """Refuse limits and device rules this host cannot apply, naming the JSON path and the reason.

    Limits need cgroup v2 alone (see unified_root). Device rules are never dropped: where cgroup v2 runs alone they
    become an eBPF program attached to the container's cgroup (devicefilter); elsewhere the cgroup v1 devices
    controller enforces them (devices_v1), so a host with neither refuses them, and so does a rule list that v1's
    "deny all, then allow these" cannot express exactly (a SpecError naming the rule). runc's default config
    carries a deny-all rule, so on a v1 or hybrid host it runs only where the v1 devices controller is mounted.
    """
    _check_limits(resources, mountinfo)
    _check_device_rules(resources, mountinfo)


def _check_limits(resources: Resources | None, mountinfo: str) -> None:
    asked = asked_controllers(resources)
    if not asked:
        return
    mount_point = cgroup2_mount_point(mountinfo)
    path = _CONTROLLER_PATHS[asked[0]]
    if mount_point is None:
        raise ContainerError(f"{path}: this host has no cgroup v2 hierarchy, so no {asked[0]} limit can be set")
    controllers = available_controllers(mount_point)
    for controller in asked:
        if controller not in controllers:
            offered = " ".join(sorted(controllers)) or "no controllers"
            raise ContainerError(f"{_CONTROLLER_PATHS[controller]}: the host's cgroup v2 hierarchy at {mount_point} "
                                 f"has {offered} (cgroup.controllers), so its {controller} limits cannot be applied")
    if mount_point != UNIFIED_ROOT:
        raise ContainerError(f"{path}: this host mounts cgroup v2 at {mount_point} beside v1 hierarchies; containers "
                             f"get cgroups only where cgroup v2 alone is mounted at {UNIFIED_ROOT}")
    if not os.access(mount_point, os.W_OK):
        raise ContainerError(f"{path}: {mount_point} is not writable by this user, so no cgroup can be created")


def _check_device_rules(resources: Resources | None, mountinfo: str) -> None:
    """Refuse device rules that neither cgroup v2 alone nor a writable v1 devices controller can enforce, and lists
    the v1 controller cannot express, before anything is created."""
    # Imported here, not at the top: devices_v1 builds on this module (unified_root, MOUNTINFO).
    from .devicefilter import effective_rules
    from .devices_v1 import devices_v1_mount, needs_v1_devices, v1_rules
    if not needs_v1_devices(resources, mountinfo):
        return
    mount_point = devices_v1_mount(mountinfo)
    if mount_point is None:
        try:
            unified = cgroup2_mount_point(mountinfo)
        except FileNotFoundError:
            unified = None
        where = f"cgroup v2 is mounted at {unified}, not alone at {UNIFIED_ROOT}" if unified \
            else "cgroup v2 is not mounted"
        raise ContainerError(f"linux.resources.devices: the device rules cannot be enforced on this host (no cgroup "
                             f"v2 alone, no v1 devices controller): {where}, and {mountinfo} shows no cgroup v1 "
                             f"hierarchy with the devices controller; remove the rules to run without device "
                             f"restrictions, or use a host with either")
    v1_rules(effective_rules(resources.devices))
    if not os.access(mount_point, os.W_OK):
        raise ContainerError(f"linux.resources.devices: {mount_point} (the cgroup v1 devices controller that enforces "
                             f"the device rules on this host) is not writable by this user, so the rules cannot be "
                             f"enforced")
