"""A container's cgroup over its life: made and configured before the init is forked, removed by `delete`."""

import errno
import functools
import os

from .cgroup_config import ALWAYS_ENABLED, cgroup_path, control_writes, needed_controllers
from .cgroup_manager import Cgroup, read_file
from .cgroups import MOUNTINFO, asked_controllers, unified_root
from .devicefilter import attach_device_filter
from .errors import SyscallError
from .record import record
from .spec import Spec
from .syscalls import Syscalls

# A descriptor number nobody has open: clone3 reads the cgroup field only when it knows CLONE_INTO_CGROUP.
_UNOPENED_FD = 0x7FFFFFFF


@record
class CgroupPlacement:
    """The configured cgroup a new container goes into: by clone3(CLONE_INTO_CGROUP, `fd`) when `clone_into`,
    otherwise by the parent writing the child's pid to cgroup.procs before releasing it."""

    cgroup: Cgroup
    fd: int
    clone_into: bool

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@functools.cache
def clone_into_cgroup_supported() -> bool:
    """Whether clone3 knows CLONE_INTO_CGROUP (Linux 5.7): it then fails with EBADF on an unopened cgroup fd;
    EINVAL (unknown flag), E2BIG (shorter clone_args) or ENOSYS (no clone3) mean it does not."""
    try:
        child = Syscalls().clone3(0, cgroup_fd=_UNOPENED_FD)
    except SyscallError as error:
        return error.errno == errno.EBADF
    if child.in_child:  # cannot happen with an unopened fd; if it does, the child must not run the caller on
        os._exit(0)
    os.waitpid(child.pid, 0)
    return True


def can_clone_into(cgroup: Cgroup, status: str = "/proc/self/status") -> bool:
    """Whether a child cloned straight into `cgroup` gets everything a move into it would give.

    Before Linux 6.2 (42a11bf5c543, "cgroup/cpuset: Make cpuset_fork() handle CLONE_INTO_CGROUP properly") a child
    cloned into a cgroup kept its parent's allowed CPUs and memory nodes instead of the cgroup's cpuset. So where
    the cgroup's cpuset differs from ours, the child is moved by a cgroup.procs write, whose attach applies the
    cpuset on every kernel.
    """
    if not clone_into_cgroup_supported():
        return False
    with open(status, encoding="ascii") as lines:
        ours = dict(line.rstrip("\n").split(":\t", 1) for line in lines if ":\t" in line)
    for control, key in (("cpuset.cpus.effective", "Cpus_allowed_list"), ("cpuset.mems.effective",
                                                                          "Mems_allowed_list")):
        try:
            theirs = read_file(cgroup.file(control)).strip()
        except FileNotFoundError:
            continue  # no cpuset controller in this cgroup: nothing to differ
        if theirs != ours.get(key, "").strip():
            return False
    return True


def set_up_cgroup(spec: Spec, container_id: str, syscalls: Syscalls | None = None,
                  mountinfo: str = MOUNTINFO) -> CgroupPlacement | None:
    """Create and configure the container's cgroup (controllers, limits, device program); None where the host
    gives containers no cgroup.

    No cgroup on a v1 or hybrid host (check_resources refused any limit there already, and the device rules are
    skipped: see its docstring), nor for a user who cannot write the v2 root and asked for no limit (as runc's
    rootless mode, which could not attach a device program either).
    """
    root = unified_root(mountinfo)
    resources = spec.linux.resources
    if root is None or (not os.access(root, os.W_OK) and not asked_controllers(resources)):
        return None
    cgroup = Cgroup(root, cgroup_path(spec.linux.cgroups_path, container_id))
    writes = control_writes(resources)  # before anything exists: a SpecError here leaves nothing behind
    required = [name for name in needed_controllers(resources) if name not in ALWAYS_ENABLED]
    required += [name for name in asked_controllers(resources) if name in ALWAYS_ENABLED]
    cgroup.create(required, optional=[name for name in ALWAYS_ENABLED if name not in required])
    fd = -1
    try:
        cgroup.apply(writes)
        fd = cgroup.open()
        attach_device_filter(resources.devices if resources else (), fd, syscalls or Syscalls())
        return CgroupPlacement(cgroup, fd, can_clone_into(cgroup))
    except BaseException:  # KeyboardInterrupt too: a half-configured cgroup must not stay
        if fd >= 0:
            os.close(fd)
        cgroup.remove()
        raise


def container_cgroup(root: str | None, path: str | None) -> Cgroup | None:
    """The cgroup a container record names, if it has one."""
    return Cgroup(root, path) if root and path else None


def destroy(cgroup: Cgroup | None) -> None:
    """Kill what is left in the cgroup (processes the init left behind, exec'd ones) and remove it."""
    if cgroup is None or not cgroup.exists():
        return
    cgroup.kill()  # SIGKILL reaches frozen tasks too: a paused container needs no thaw first
    cgroup.remove()
