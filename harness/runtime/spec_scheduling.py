"""How the container process is scheduled: process.scheduler, process.ioPriority, process.execCPUAffinity."""

from __future__ import annotations

from .constants import IOPRIO_CLASSES, SCHED_FLAGS, SCHED_POLICIES
from .errors import SpecError
from .record import record
from .spec_json import INT32_MAX, INT32_MIN, UINT64_MAX, JsonObject, as_cpuset, as_one_of

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing, which every CLI start would pay
if TYPE_CHECKING:
    from typing import Any

# CONFIG_NR_CPUS is at most 8192 (x86 MAXSMP): a higher CPU number is a typo, and a huge range would be a huge set.
MAX_CPUS = 8192
_DEADLINE_FIELDS = ("runtime", "deadline", "period")


@record(frozen=True)
class Scheduler:
    """sched_setattr(2)'s struct sched_attr: a policy name, SCHED_FLAG_* names and the policy's parameters."""

    policy: str
    nice: int = 0
    priority: int = 0
    flags: tuple[str, ...] = ()
    runtime: int = 0
    deadline: int = 0
    period: int = 0


@record(frozen=True)
class IoPriority:
    """ioprio_set(2)'s class (an IOPRIO_CLASS_* name) and level within it (0 highest, 7 lowest)."""

    io_class: str
    priority: int = 0


@record(frozen=True)
class CpuAffinity:
    """CPU numbers the process may run on: `initial` while the runtime sets it up, `final` from its exec on."""

    initial: frozenset[int] | None = None
    final: frozenset[int] | None = None


def parse_scheduler(raw: Any, path: str) -> Scheduler:
    """Validate as runc 1.2 does: priority only for FIFO and RR, runtime/deadline/period only for DEADLINE."""
    obj = JsonObject(raw, path, known=("policy", "nice", "priority", "flags", "runtime", "deadline", "period"))
    policy = as_one_of(obj.get("policy", required=True), obj.path_of("policy"), SCHED_POLICIES, what="policy")
    flags = []
    for flag, flag_path in obj.items("flags"):
        flags.append(as_one_of(flag, flag_path, SCHED_FLAGS, what="scheduler flag"))
    scheduler = Scheduler(
        policy=policy,
        nice=obj.integer("nice", 0, minimum=-20, maximum=19),
        priority=obj.integer("priority", 0, minimum=INT32_MIN, maximum=INT32_MAX),
        flags=tuple(flags),
        runtime=obj.integer("runtime", 0, minimum=0, maximum=UINT64_MAX),
        deadline=obj.integer("deadline", 0, minimum=0, maximum=UINT64_MAX),
        period=obj.integer("period", 0, minimum=0, maximum=UINT64_MAX),
    )
    if scheduler.priority and policy not in ("SCHED_FIFO", "SCHED_RR"):
        raise SpecError(obj.path_of("priority"), f"only SCHED_FIFO and SCHED_RR take a priority, not {policy}")
    if policy in ("SCHED_FIFO", "SCHED_RR") and not 1 <= scheduler.priority <= 99:
        raise SpecError(obj.path_of("priority"), f"{policy} needs a priority in [1, 99], got {scheduler.priority}")
    for name in _DEADLINE_FIELDS:
        if getattr(scheduler, name) and policy != "SCHED_DEADLINE":
            raise SpecError(obj.path_of(name), f"only SCHED_DEADLINE takes a {name}, not {policy}")
    return scheduler


def parse_io_priority(raw: Any, path: str) -> IoPriority:
    obj = JsonObject(raw, path, known=("class", "priority"))
    return IoPriority(
        io_class=as_one_of(obj.get("class", required=True), obj.path_of("class"), IOPRIO_CLASSES, what="class"),
        priority=obj.integer("priority", 0, minimum=0, maximum=7),
    )


def parse_cpu_affinity(raw: Any, path: str) -> CpuAffinity:
    obj = JsonObject(raw, path, known=("initial", "final"))
    return CpuAffinity(
        initial=parse_cpu_list(obj.get("initial"), obj.path_of("initial")) if obj.string("initial") else None,
        final=parse_cpu_list(obj.get("final"), obj.path_of("final")) if obj.string("final") else None,
    )


def parse_cpu_list(raw: Any, path: str) -> frozenset[int]:
    """A kernel cpu list such as `0-3,7` as a set of CPU numbers; strict: no spaces, no empty parts."""
    text = as_cpuset(raw, path)
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        last = int(high or low)
        if last >= MAX_CPUS:
            raise SpecError(path, f"CPU {last} is past the kernel's limit of {MAX_CPUS} CPUs")
        cpus.update(range(int(low), last + 1))
    return frozenset(cpus)
