"""The `linux.resources` object of config.json (cgroup limits and the device allow-list) as frozen records."""

from __future__ import annotations

from .errors import SpecError
from .record import record
from .spec_json import UINT64_MAX, JsonObject, as_bool, as_cpuset, as_one_of

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing, which every CLI start would pay
if TYPE_CHECKING:
    from typing import Any

# OCI fields that only cgroup v1 has, or that this runtime does not implement yet: refused by name.
_MEMORY_UNSUPPORTED = ("kernel", "kernelTCP", "swappiness", "useHierarchy", "checkBeforeUpdate")
_CPU_UNSUPPORTED = ("realtimeRuntime", "realtimePeriod", "idle", "burst")
_BLOCK_IO_UNSUPPORTED = ("leafWeight", "weightDevice")
_THROTTLE_FIELDS = {
    "throttleReadBpsDevice": "throttle_read_bps_device",
    "throttleWriteBpsDevice": "throttle_write_bps_device",
    "throttleReadIOPSDevice": "throttle_read_iops_device",
    "throttleWriteIOPSDevice": "throttle_write_iops_device",
}
# cpu.cfs_period_us and cpu.cfs_quota_us bounds the kernel enforces (1 ms to 1 s for the period).
CPU_PERIOD_MIN, CPU_PERIOD_MAX = 1000, 1_000_000
CPU_QUOTA_MIN = 1000
# cpu.shares bounds of cgroup v1, which runc converts to a cgroup v2 cpu.weight.
CPU_SHARES_MIN, CPU_SHARES_MAX = 2, 262144
BLOCK_IO_WEIGHT_MIN, BLOCK_IO_WEIGHT_MAX = 10, 1000


@record(frozen=True)
class Memory:
    """Memory limits in bytes; -1 means unlimited; `swap` is memory plus swap, as in the OCI spec."""

    limit: int | None = None
    reservation: int | None = None
    swap: int | None = None
    disable_oom_killer: bool = False


@record(frozen=True)
class Cpu:
    """CPU weight, bandwidth (quota per period in microseconds, quota -1 = unlimited) and cpuset lists."""

    shares: int | None = None
    quota: int | None = None
    period: int | None = None
    cpus: str | None = None
    mems: str | None = None


@record(frozen=True)
class Pids:
    """The task limit; 0 and -1 mean unlimited, as runc reads them."""

    limit: int


@record(frozen=True)
class ThrottleDevice:
    """A per-device I/O rate: bytes or operations per second."""

    major: int
    minor: int
    rate: int


@record(frozen=True)
class BlockIo:
    """io controller settings."""

    weight: int | None = None
    throttle_read_bps_device: tuple[ThrottleDevice, ...] = ()
    throttle_write_bps_device: tuple[ThrottleDevice, ...] = ()
    throttle_read_iops_device: tuple[ThrottleDevice, ...] = ()
    throttle_write_iops_device: tuple[ThrottleDevice, ...] = ()


@record(frozen=True)
class DeviceRule:
    """One device cgroup rule: type a/b/c, major/minor None for any, access a subset of "rwm"."""

    allow: bool
    type: str = "a"
    major: int | None = None
    minor: int | None = None
    access: str = "rwm"


@record(frozen=True)
class Resources:
    """Cgroup settings of the container; None for a controller the config does not mention."""

    memory: Memory | None = None
    cpu: Cpu | None = None
    pids: Pids | None = None
    block_io: BlockIo | None = None
    devices: tuple[DeviceRule, ...] = ()


def parse_resources(raw: Any, path: str) -> Resources:
    obj = JsonObject(raw, path, known=("memory", "cpu", "pids", "blockIO", "devices"),
                     unsupported=("hugepageLimits", "network", "rdma", "unified"))
    return Resources(
        memory=_parse_memory(obj.get("memory"), obj.path_of("memory")) if obj.has("memory") else None,
        cpu=_parse_cpu(obj.get("cpu"), obj.path_of("cpu")) if obj.has("cpu") else None,
        pids=_parse_pids(obj.get("pids"), obj.path_of("pids")) if obj.has("pids") else None,
        block_io=_parse_block_io(obj.get("blockIO"), obj.path_of("blockIO")) if obj.has("blockIO") else None,
        devices=tuple(_parse_device_rule(rule, rule_path) for rule, rule_path in obj.items("devices")),
    )


def _parse_memory(raw: Any, path: str) -> Memory:
    obj = JsonObject(raw, path, known=("limit", "reservation", "swap", "disableOOMKiller"),
                     unsupported=_MEMORY_UNSUPPORTED)
    memory = Memory(
        limit=obj.integer("limit", minimum=-1),
        reservation=obj.integer("reservation", minimum=-1),
        swap=obj.integer("swap", minimum=-1),
        disable_oom_killer=obj.boolean("disableOOMKiller"),
    )
    if memory.limit and memory.swap and 0 < memory.swap < memory.limit:
        raise SpecError(obj.path_of("swap"), f"memory+swap limit {memory.swap} is below the memory limit "
                                             f"{memory.limit}")
    return memory


def _parse_cpu(raw: Any, path: str) -> Cpu:
    obj = JsonObject(raw, path, known=("shares", "quota", "period", "cpus", "mems"), unsupported=_CPU_UNSUPPORTED)
    quota = obj.integer("quota")
    if quota is not None and quota != -1 and quota < CPU_QUOTA_MIN:
        raise SpecError(obj.path_of("quota"), f"expected a positive quota of at least {CPU_QUOTA_MIN} "
                                              f"microseconds, or -1 for none, got {quota}")
    return Cpu(
        shares=obj.integer("shares", minimum=CPU_SHARES_MIN, maximum=CPU_SHARES_MAX),
        quota=quota,
        period=obj.integer("period", minimum=CPU_PERIOD_MIN, maximum=CPU_PERIOD_MAX),
        # An empty string is how Go writes "not set" for these strings.
        cpus=as_cpuset(obj.get("cpus"), obj.path_of("cpus")) if obj.string("cpus") else None,
        mems=as_cpuset(obj.get("mems"), obj.path_of("mems")) if obj.string("mems") else None,
    )


def _parse_pids(raw: Any, path: str) -> Pids:
    obj = JsonObject(raw, path, known=("limit",))
    return Pids(limit=obj.integer("limit", required=True, minimum=-1))


def _parse_block_io(raw: Any, path: str) -> BlockIo:
    obj = JsonObject(raw, path, known=("weight", *_THROTTLE_FIELDS), unsupported=_BLOCK_IO_UNSUPPORTED)
    throttles = {
        attribute: tuple(_parse_throttle_device(entry, entry_path) for entry, entry_path in obj.items(key))
        for key, attribute in _THROTTLE_FIELDS.items()
    }
    return BlockIo(weight=obj.integer("weight", minimum=BLOCK_IO_WEIGHT_MIN, maximum=BLOCK_IO_WEIGHT_MAX),
                   **throttles)


def _parse_throttle_device(raw: Any, path: str) -> ThrottleDevice:
    obj = JsonObject(raw, path, known=("major", "minor", "rate"))
    return ThrottleDevice(
        major=obj.integer("major", required=True, minimum=0),
        minor=obj.integer("minor", required=True, minimum=0),
        rate=obj.integer("rate", required=True, minimum=0, maximum=UINT64_MAX),
    )


def _parse_device_rule(raw: Any, path: str) -> DeviceRule:
    obj = JsonObject(raw, path, known=("allow", "type", "major", "minor", "access"))
    access = obj.string("access") or "rwm"  # runc reads an empty access as all of them
    if set(access) - set("rwm") or len(set(access)) != len(access):
        raise SpecError(obj.path_of("access"), f'expected letters from "rwm", each at most once, got "{access}"')
    return DeviceRule(
        allow=as_bool(obj.get("allow", required=True), obj.path_of("allow")),
        type=as_one_of(obj.get("type"), obj.path_of("type"), ("a", "b", "c"), what="device type")
        if obj.has("type") else "a",
        # -1 is how Go writes a wildcard; keep one spelling for it.
        major=_wildcard(obj.integer("major", minimum=-1)),
        minor=_wildcard(obj.integer("minor", minimum=-1)),
        access=access,
    )


def _wildcard(number: int | None) -> int | None:
    return None if number == -1 else number

