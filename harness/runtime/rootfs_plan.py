"""The mount plan of a container: a pure function from a Spec to the ordered steps that rootfs.py executes."""

import os

from . import constants as c
from .devices import device_steps
from .errors import SpecError
from .mount_options import PROPAGATIONS, REMOUNT_FLAGS, parse_mount_options
from .mount_steps import CREATE_DIR, CREATE_LIKE_SOURCE, IdmappedBind, MaskPath, MountStep, PivotRoot, \
    ReadonlyPath, Step, WriteFile
from .spec import Mount, Spec
from .spec_json import join


def plan_rootfs(spec: Spec, rootfs: str, bundle: str) -> tuple[Step, ...]:
    """The steps that turn a fresh mount namespace into the container's filesystem, in order.

    `rootfs` and `bundle` are absolute, symlink-free host paths. Everything except the last propagation change
    happens before pivot_root, on paths opened inside `rootfs`, so the host's /dev/null can stand in as the mask
    source where the container's is not the null device, and no step after the pivot needs to look at the
    filesystem.
    """
    steps: list[Step] = [
        # Nothing mounted from here on may propagate back to the host (see _host_propagation).
        _host_propagation(spec.linux.rootfs_propagation),
        # pivot_root needs the new root to be a mount point.
        MountStep("root.path", rootfs, source=rootfs, flags=c.MS_BIND | c.MS_REC, in_rootfs=False),
    ]
    for index, mount in enumerate(spec.mounts):
        steps.extend(_spec_mount_steps(mount, f"mounts[{index}]", bundle, spec.linux.mount_label))
    if not any(_binds_dev(mount) for mount in spec.mounts):
        steps.extend(device_steps(in_user_namespace=spec.linux.namespace("user") is not None))
    for key, value in spec.linux.sysctl.items():
        steps.append(WriteFile(join(join("linux", "sysctl"), key), "/proc/sys/" + key.replace(".", "/"), value))
    steps.extend(MaskPath(f"linux.maskedPaths[{index}] ({path})", path)
                 for index, path in enumerate(spec.linux.masked_paths))
    steps.extend(ReadonlyPath(f"linux.readonlyPaths[{index}] ({path})", path)
                 for index, path in enumerate(spec.linux.readonly_paths))
    if spec.root.readonly:
        steps.append(MountStep("root.readonly", rootfs, flags=c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY,
                               in_rootfs=False, keep_locked_flags=True))
    steps.append(PivotRoot("pivot_root", rootfs))
    if spec.linux.rootfs_propagation:
        # After the pivot, as runc does: before it, "/" was the host's root, not the container's.
        steps.append(MountStep("linux.rootfsPropagation", "/", flags=PROPAGATIONS[spec.linux.rootfs_propagation],
                               in_rootfs=False))
    return tuple(steps)


def rootfs_path(spec: Spec, bundle: str) -> str:
    """The absolute, symlink-free host path of the spec's root.path (relative paths are relative to the bundle)."""
    return os.path.realpath(os.path.join(bundle, spec.root.path))


def _host_propagation(rootfs_propagation: str | None) -> MountStep:
    """The first step: the copy of the host's mount tree made recursively private, or recursively a slave.

    Without linux.rootfsPropagation: rprivate, as this runtime always did. With a slave or shared kind: rslave (runc's
    default for every container), so mounts the host makes later reach the container and nothing flows back.
    runtime-spec's "shared" is a new peer group of the container's own, "not shared with the host"; runc 1.1 makes
    the host side rshared instead, a two-way link that would also need the old root made rslave between pivot_root
    and its lazy unmount (rootfs.py does not), else that unmount propagates to the host. The container's "/" gets
    the exact kind after pivot_root (plan_rootfs's last step).
    """
    if rootfs_propagation and PROPAGATIONS[rootfs_propagation] & (c.MS_SLAVE | c.MS_SHARED):
        return MountStep("linux.rootfsPropagation (host side)", "/", flags=c.MS_REC | c.MS_SLAVE, in_rootfs=False)
    return MountStep("make / private", "/", flags=c.MS_REC | c.MS_PRIVATE, in_rootfs=False)


# Filesystems that take no SELinux context= option (runc mounts them without the mount label).
_UNLABELLED_TYPES = ("proc", "sysfs", "cgroup", "cgroup2")


def _spec_mount_steps(mount: Mount, path: str, bundle: str, mount_label: str | None = None) -> list[Step]:
    options = parse_mount_options(mount.options, path)
    what = f"{path} ({mount.destination})"
    if mount.type == "bind" or options.is_bind:
        if not mount.source:
            raise SpecError(f"{path}.source", "a bind mount needs a source")
        source = os.path.join(bundle, mount.source)  # a no-op for absolute sources
        steps: list[Step] = [MountStep(what, mount.destination, source=source, flags=c.MS_BIND
                                       | (options.flags & c.MS_REC), create=CREATE_LIKE_SOURCE)]
        if mount.uid_mappings:  # spec.py checked that the gid mappings come with them
            steps = [IdmappedBind(what, mount.destination, source, bool(options.flags & c.MS_REC),
                                  mount.uid_mappings, mount.gid_mappings, f"{path}.uidMappings")]
        # mount(2) ignores ro, nosuid, ... on a new bind mount: they take a second, remounting call.
        if options.flags & REMOUNT_FLAGS:
            steps.append(MountStep(what, mount.destination, flags=c.MS_BIND | c.MS_REMOUNT
                                   | (options.flags & REMOUNT_FLAGS), keep_locked_flags=True))
    else:
        if not mount.type:
            raise SpecError(f"{path}.type", "a mount that is not a bind mount needs a filesystem type")
        # "cgroup" asks for the host's cgroup hierarchy; this runtime only speaks cgroup v2.
        fstype = "cgroup2" if mount.type == "cgroup" else mount.type
        data = options.data
        if mount_label and fstype not in _UNLABELLED_TYPES:
            # linux.mountLabel, as runc's label.FormatMountLabel writes it (api.check_supported refused it without
            # SELinux).
            data = ",".join(filter(None, (data, f'context="{mount_label}"')))
        steps = [MountStep(what, mount.destination, source=mount.source or fstype, fstype=fstype,
                           flags=options.flags, data=data, create=CREATE_DIR)]
    steps.extend(MountStep(what, mount.destination, flags=propagation) for propagation in options.propagation)
    return steps


def _binds_dev(mount: Mount) -> bool:
    """A spec that bind-mounts the host's /dev brings its own devices: runc then creates none either."""
    return os.path.normpath(mount.destination) == "/dev" and (mount.type == "bind" or "bind" in mount.options
                                                              or "rbind" in mount.options)
