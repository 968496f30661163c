"""The `linux.seccomp` object of config.json as frozen records (parsed and checked here, enforced elsewhere)."""

from __future__ import annotations

from .errors import SpecError
from .record import record
from .spec_json import UINT32_MAX, UINT64_MAX, JsonObject, as_one_of, as_string

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing, which every CLI start would pay
if TYPE_CHECKING:
    from typing import Any

SECCOMP_ACTIONS = (
    "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG",
)
SECCOMP_OPERATORS = (
    "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ",
)
SECCOMP_ARCHITECTURES = (
    "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64",
)
SECCOMP_FLAGS = (
    "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
)
# A syscall has six arguments, indexed 0 to 5.
SYSCALL_ARGUMENT_COUNT = 6


@record(frozen=True)
class SeccompArg:
    """A condition on one syscall argument: `value_two` is the second operand of SCMP_CMP_MASKED_EQ."""

    index: int
    value: int
    op: str
    value_two: int = 0


@record(frozen=True)
class SeccompRule:
    """The action to take for the named syscalls when all `args` conditions hold."""

    names: tuple[str, ...]
    action: str
    errno_ret: int | None = None
    args: tuple[SeccompArg, ...] = ()


@record(frozen=True)
class Seccomp:
    """A seccomp filter: `default_action` for syscalls no rule matches."""

    default_action: str
    default_errno_ret: int | None = None
    architectures: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    syscalls: tuple[SeccompRule, ...] = ()


def parse_seccomp(raw: Any, path: str) -> Seccomp:
    obj = JsonObject(raw, path, known=("defaultAction", "defaultErrnoRet", "architectures", "flags", "syscalls"),
                     unsupported=("listenerPath", "listenerMetadata"))
    return Seccomp(
        default_action=_parse_action(obj.get("defaultAction", required=True), obj.path_of("defaultAction")),
        default_errno_ret=obj.integer("defaultErrnoRet", minimum=0, maximum=UINT32_MAX),
        architectures=tuple(as_one_of(arch, arch_path, SECCOMP_ARCHITECTURES, what="architecture")
                            for arch, arch_path in obj.items("architectures")),
        flags=tuple(as_one_of(flag, flag_path, SECCOMP_FLAGS, what="seccomp flag")
                    for flag, flag_path in obj.items("flags")),
        syscalls=tuple(_parse_rule(rule, rule_path) for rule, rule_path in obj.items("syscalls")),
    )


def _parse_action(raw: Any, path: str) -> str:
    if raw == "SCMP_ACT_NOTIFY":
        raise SpecError(path, "SCMP_ACT_NOTIFY needs a seccomp listener, which this runtime does not support")
    return as_one_of(raw, path, SECCOMP_ACTIONS, what="seccomp action")


def _parse_rule(raw: Any, path: str) -> SeccompRule:
    obj = JsonObject(raw, path, known=("names", "action", "errnoRet", "args"))
    names = tuple(as_string(name, name_path, non_empty=True) for name, name_path in obj.items("names"))
    if not names:
        raise SpecError(obj.path_of("names"), "must name at least one syscall")
    return SeccompRule(
        names=names,
        action=_parse_action(obj.get("action", required=True), obj.path_of("action")),
        errno_ret=obj.integer("errnoRet", minimum=0, maximum=UINT32_MAX),
        args=tuple(_parse_arg(arg, arg_path) for arg, arg_path in obj.items("args")),
    )


def _parse_arg(raw: Any, path: str) -> SeccompArg:
    obj = JsonObject(raw, path, known=("index", "value", "valueTwo", "op"))
    return SeccompArg(
        index=obj.integer("index", required=True, minimum=0, maximum=SYSCALL_ARGUMENT_COUNT - 1),
        value=obj.integer("value", required=True, minimum=0, maximum=UINT64_MAX),
        op=as_one_of(obj.get("op", required=True), obj.path_of("op"), SECCOMP_OPERATORS, what="operator"),
        value_two=obj.integer("valueTwo", 0, minimum=0, maximum=UINT64_MAX),
    )
