"""Pure translation of linux.resources and linux.cgroupsPath into cgroup v2 file writes, with runc's conversions."""

import posixpath
import re

from .errors import SpecError
from .record import record
from .spec_resources import BlockIo, Cpu, Memory, Resources

# Where containers go when linux.cgroupsPath is absent or relative (under the cgroup2 root).
DEFAULT_PARENT = "/kharness"
# systemd's "slice:prefix:name" (runc --systemd-cgroup); a path has slashes, this has exactly two colons.
_SYSTEMD_PATH = re.compile(r"[^/:]*:[^/:]*:[^/:]+")
# Controllers every container's cgroup gets even without limits: `stats` reports them, `kill` counts tasks.
ALWAYS_ENABLED = ("memory", "pids")
CPU_PERIOD_DEFAULT = 100_000  # the kernel's cpu.max period when none is written


@record(frozen=True)
class ControlWrite:
    """Write `value` to `file` of the container's cgroup; `path` is the JSON path it comes from.

    `alternative` (file, value) is written instead when `file` does not exist; `skip_if_missing` drops the write
    when the file does not exist (memory.swap.max on a kernel without swap accounting, when asking for no limit).
    """

    file: str
    value: str
    path: str
    alternative: tuple[str, str] | None = None
    skip_if_missing: bool = False


def cgroup_path(cgroups_path: str | None, container_id: str) -> str:
    """The container's cgroup relative to the cgroup2 root, as "/a/b": an absolute linux.cgroupsPath as it is,
    a relative one under DEFAULT_PARENT, none as DEFAULT_PARENT/<id>. ".." cannot climb above the root."""
    if not cgroups_path:
        return f"{DEFAULT_PARENT}/{container_id}"
    if _SYSTEMD_PATH.fullmatch(cgroups_path):
        raise SpecError("linux.cgroupsPath", f'"{cgroups_path}" is a systemd "slice:prefix:name" path; this runtime '
                                             "drives cgroupfs directly: give a path such as /kharness/<id>")
    # runc's CleanPath: rooted first, so ".." components stop at the root.
    relative = not cgroups_path.startswith("/")
    cleaned = posixpath.normpath("/" + cgroups_path.lstrip("/"))  # normpath keeps a leading "//"
    if relative:
        cleaned = posixpath.normpath(DEFAULT_PARENT + cleaned)
    if cleaned == "/":
        raise SpecError("linux.cgroupsPath", f'"{cgroups_path}" names the root cgroup, which cannot hold a container')
    return cleaned


def needed_controllers(resources: Resources | None) -> list[str]:
    """The controllers the container's cgroup needs enabled, in a stable order."""
    wanted = list(ALWAYS_ENABLED)
    if resources is not None:
        cpu = resources.cpu
        if cpu is not None and (cpu.shares is not None or cpu.quota is not None or cpu.period is not None):
            wanted.append("cpu")
        if cpu is not None and (cpu.cpus or cpu.mems):
            wanted.append("cpuset")
        if resources.block_io is not None and asks_for_limits(resources.block_io):
            wanted.append("io")
    return wanted


def control_writes(resources: Resources | None) -> list[ControlWrite]:
    """Every file write that applies the limits, in runc's order within each controller."""
    if resources is None:
        return []
    writes: list[ControlWrite] = []
    if resources.memory is not None:
        writes += _memory(resources.memory, "linux.resources.memory")
    if resources.cpu is not None:
        writes += _cpu(resources.cpu, "linux.resources.cpu")
    if resources.pids is not None:
        limit = resources.pids.limit
        # runc reads 0 as "not set" and -1 as unlimited; both leave the kernel's default, "max".
        writes.append(ControlWrite("pids.max", str(limit) if limit > 0 else "max", "linux.resources.pids.limit"))
    if resources.block_io is not None:
        writes += _block_io(resources.block_io, "linux.resources.blockIO")
    return writes


def cpu_weight(shares: int) -> int:
    """runc's cpu.shares (2..262144) -> cpu.weight (1..10000) conversion."""
    return 1 + ((shares - 2) * 9999) // 262142


def io_weight(blkio_weight: int) -> int:
    """runc's blkio weight (10..1000) -> io.weight (1..10000) conversion."""
    return 1 + (blkio_weight - 10) * 9999 // 990


def swap_max(swap: int | None, limit: int | None, path: str) -> str | None:
    """memory.swap.max from the OCI memory+swap total, as runc's ConvertMemorySwapToCgroupV2Value; None: unset."""
    if limit == -1 and not swap:
        return "max"  # unlimited memory and swap not given: both unlimited, as cgroup v1 would have it
    if swap is None or swap == 0:
        return None
    if swap == -1:
        return "max"
    if not limit or limit == -1:
        raise SpecError(path, "a swap limit needs a memory limit (swap is memory plus swap in the OCI spec)")
    return str(swap - limit)


def _memory(memory: Memory, path: str) -> list[ControlWrite]:
    if memory.disable_oom_killer:
        raise SpecError(f"{path}.disableOOMKiller", "cgroup v2 has no way to disable the OOM killer")
    writes = []
    swap = swap_max(memory.swap, memory.limit, f"{path}.swap")
    if swap is not None:
        # A kernel without swap accounting has no memory.swap.max: fine when asking for no limit, as runc allows.
        writes.append(ControlWrite("memory.swap.max", swap, f"{path}.swap", skip_if_missing=swap in ("max", "0")))
    if memory.limit:
        writes.append(ControlWrite("memory.max", _number(memory.limit), f"{path}.limit"))
    if memory.reservation:
        writes.append(ControlWrite("memory.low", _number(memory.reservation), f"{path}.reservation"))
    return writes


def _cpu(cpu: Cpu, path: str) -> list[ControlWrite]:
    writes = []
    if cpu.shares is not None:
        writes.append(ControlWrite("cpu.weight", str(cpu_weight(cpu.shares)), f"{path}.shares"))
    if cpu.quota is not None or cpu.period is not None:
        quota = str(cpu.quota) if cpu.quota is not None and cpu.quota > 0 else "max"
        period = cpu.period or CPU_PERIOD_DEFAULT
        writes.append(ControlWrite("cpu.max", f"{quota} {period}", f"{path}.quota" if cpu.quota else f"{path}.period"))
    if cpu.cpus:
        writes.append(ControlWrite("cpuset.cpus", cpu.cpus, f"{path}.cpus"))
    if cpu.mems:
        writes.append(ControlWrite("cpuset.mems", cpu.mems, f"{path}.mems"))
    return writes


def _block_io(block_io: BlockIo, path: str) -> list[ControlWrite]:
    writes = []
    if block_io.weight is not None:
        # BFQ takes the blkio weight as it is; io.weight (iocost) has its own scale.
        writes.append(ControlWrite("io.bfq.weight", str(block_io.weight), f"{path}.weight",
                                   alternative=("io.weight", str(io_weight(block_io.weight)))))
    devices: dict[tuple[int, int], list[str]] = {}
    for attribute, key, json_name in (("throttle_read_bps_device", "rbps", "throttleReadBpsDevice"),
                                      ("throttle_write_bps_device", "wbps", "throttleWriteBpsDevice"),
                                      ("throttle_read_iops_device", "riops", "throttleReadIOPSDevice"),
                                      ("throttle_write_iops_device", "wiops", "throttleWriteIOPSDevice")):
        for entry in getattr(block_io, attribute):
            # io.max refuses 0 (ERANGE); a 0 rate in cgroup v1 meant "no limit", which io.max spells "max".
            devices.setdefault((entry.major, entry.minor), []).append(f"{key}={entry.rate or 'max'}")
    for (major, minor), limits in devices.items():
        writes.append(ControlWrite("io.max", f"{major}:{minor} {' '.join(limits)}", f"{path} ({major}:{minor})"))
    return writes


def _number(value: int) -> str:
    return "max" if value == -1 else str(value)


def asks_for_limits(settings: object) -> bool:
    """Whether a controller's settings hold any value (a record with every field None or False asks nothing)."""
    return any(value not in (None, False, ()) for value in vars(settings).values())
