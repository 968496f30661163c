"""The `process` object of config.json (also the whole of an `exec --process` file) as frozen records."""

from __future__ import annotations

from .constants import CAPABILITIES, RLIMITS
from .errors import SpecError
from .record import record
from .spec_scheduling import CpuAffinity, IoPriority, Scheduler, parse_cpu_affinity, parse_io_priority, \
    parse_scheduler
from .spec_json import UINT32_MAX, UINT64_MAX, JsonObject, as_absolute_path, as_int, as_one_of, as_string, \
    did_you_mean, show

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing, which every CLI start would pay
if TYPE_CHECKING:
    from typing import Any

# The highest uid or gid a process can take: UINT32_MAX itself means "unchanged" to the kernel.
MAX_ID = UINT32_MAX - 1
CAPABILITY_SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")


@record(frozen=True)
class User:
    """Who the container process runs as; umask None keeps the runtime's default (0o022 in runc)."""

    uid: int
    gid: int
    umask: int | None = None
    additional_gids: tuple[int, ...] = ()


@record(frozen=True)
class Capabilities:
    """Capability names (CAP_*) per set; a set absent from the config is empty."""

    bounding: tuple[str, ...] = ()
    effective: tuple[str, ...] = ()
    permitted: tuple[str, ...] = ()
    inheritable: tuple[str, ...] = ()
    ambient: tuple[str, ...] = ()


@record(frozen=True)
class Rlimit:
    """One resource limit: `type` is an RLIMIT_* name, 2**64-1 means unlimited."""

    type: str
    soft: int
    hard: int


@record(frozen=True)
class Process:
    """What to run in the container and with which identity, limits and privileges."""

    args: tuple[str, ...]
    cwd: str
    user: User
    env: tuple[str, ...] = ()
    terminal: bool = False
    # None: the config has no `capabilities`, so the runtime leaves the inherited sets alone (as runc does).
    capabilities: Capabilities | None = None
    rlimits: tuple[Rlimit, ...] = ()
    no_new_privileges: bool = False
    apparmor_profile: str | None = None
    selinux_label: str | None = None
    oom_score_adj: int | None = None
    scheduler: Scheduler | None = None
    io_priority: IoPriority | None = None
    exec_cpu_affinity: CpuAffinity | None = None
    # process.consoleSize (height, width) of the terminal; None: the pty's default.
    console_size: tuple[int, int] | None = None


def parse_process(raw: Any, path: str = "process") -> Process:
    """Parse a `process` object; `path` is where it sits, "" for a stand-alone process.json."""
    obj = JsonObject(raw, path, known=(
        "terminal", "user", "args", "env", "cwd", "capabilities", "rlimits", "noNewPrivileges",
        "apparmorProfile", "oomScoreAdj", "selinuxLabel", "ioPriority", "scheduler", "execCPUAffinity",
        "consoleSize"),
        unsupported=("commandLine",))  # Windows-only
    args = obj.strings("args")
    if not obj.has("args") or not args:
        raise SpecError(obj.path_of("args"), "must name the program to run (a non-empty array)")
    if not args[0]:
        raise SpecError(obj.path_of("args") + "[0]", "the program name must not be empty")
    return Process(
        args=args,
        cwd=as_absolute_path(obj.get("cwd", required=True), obj.path_of("cwd")),
        user=_parse_user(obj.get("user", required=True), obj.path_of("user")),
        env=_parse_env(obj),
        terminal=obj.boolean("terminal"),
        capabilities=_parse_capabilities(obj.get("capabilities"), obj.path_of("capabilities"))
        if obj.has("capabilities") else None,
        rlimits=_parse_rlimits(obj),
        no_new_privileges=obj.boolean("noNewPrivileges"),
        apparmor_profile=obj.string("apparmorProfile") or None,
        selinux_label=obj.string("selinuxLabel") or None,
        oom_score_adj=obj.integer("oomScoreAdj", minimum=-1000, maximum=1000),
        scheduler=parse_scheduler(obj.get("scheduler"), obj.path_of("scheduler")) if obj.has("scheduler") else None,
        io_priority=parse_io_priority(obj.get("ioPriority"), obj.path_of("ioPriority"))
        if obj.has("ioPriority") else None,
        exec_cpu_affinity=parse_cpu_affinity(obj.get("execCPUAffinity"), obj.path_of("execCPUAffinity"))
        if obj.has("execCPUAffinity") else None,
        console_size=_parse_console_size(obj.get("consoleSize"), obj.path_of("consoleSize"))
        if obj.has("consoleSize") else None,
    )


def _parse_console_size(raw: Any, path: str) -> tuple[int, int]:
    """consoleSize: the terminal's rows and columns (struct winsize holds 16-bit values)."""
    obj = JsonObject(raw, path, known=("height", "width"))
    return (obj.integer("height", required=True, minimum=0, maximum=0xFFFF),
            obj.integer("width", required=True, minimum=0, maximum=0xFFFF))


def _parse_user(raw: Any, path: str) -> User:
    obj = JsonObject(raw, path, known=("uid", "gid", "umask", "additionalGids"), unsupported=("username",))
    # 4294967295 is (uid_t)-1, which setresuid and setgroups read as "leave unchanged": the process would stay root.
    return User(
        uid=obj.integer("uid", required=True, minimum=0, maximum=MAX_ID),
        gid=obj.integer("gid", required=True, minimum=0, maximum=MAX_ID),
        umask=obj.integer("umask", minimum=0, maximum=0o777),
        additional_gids=tuple(as_int(gid, gid_path, 0, MAX_ID) for gid, gid_path in obj.items("additionalGids")),
    )


def _parse_env(obj: JsonObject) -> tuple[str, ...]:
    env = []
    for entry, entry_path in obj.items("env"):
        text = as_string(entry, entry_path)
        # execve would accept "FOO", but runc refuses it and so do we: it is almost always a typo.
        if "=" not in text or text.startswith("="):
            raise SpecError(entry_path, f"expected NAME=VALUE, got {show(text)}")
        env.append(text)
    return tuple(env)


def _parse_capabilities(raw: Any, path: str) -> Capabilities:
    obj = JsonObject(raw, path, known=CAPABILITY_SETS)
    sets = {}
    for name in CAPABILITY_SETS:
        sets[name] = tuple(_parse_capability(value, value_path) for value, value_path in obj.items(name))
    return Capabilities(**sets)


def _parse_capability(raw: Any, path: str) -> str:
    name = as_string(raw, path)
    if not name.startswith("CAP_"):
        raise SpecError(path, f'capability names start with "CAP_", got {show(name)}'
                              f"{did_you_mean('CAP_' + name.upper(), CAPABILITIES)}")
    if name not in CAPABILITIES:
        raise SpecError(path, f"unknown capability {show(name)}{did_you_mean(name, CAPABILITIES)}")
    return name


def _parse_rlimits(obj: JsonObject) -> tuple[Rlimit, ...]:
    rlimits: list[Rlimit] = []
    for raw, path in obj.items("rlimits"):
        entry = JsonObject(raw, path, known=("type", "soft", "hard"))
        rlimit = Rlimit(
            type=as_one_of(entry.get("type", required=True), entry.path_of("type"), RLIMITS, what="rlimit"),
            soft=entry.integer("soft", required=True, minimum=0, maximum=UINT64_MAX),
            hard=entry.integer("hard", required=True, minimum=0, maximum=UINT64_MAX),
        )
        if rlimit.soft > rlimit.hard:
            raise SpecError(entry.path_of("soft"), f"soft limit {rlimit.soft} exceeds hard limit {rlimit.hard}")
        if any(earlier.type == rlimit.type for earlier in rlimits):
            raise SpecError(entry.path_of("type"), f"{rlimit.type} is set twice")
        rlimits.append(rlimit)
    return tuple(rlimits)
