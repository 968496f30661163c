"""What a linux.seccomp profile means on this machine, as plain data: per AUDIT_ARCH, the rules of each syscall.

The meaning is runc's (libseccomp's, plus runc's own additions), decided here once so that the code generator
only has to translate it:

- The filter covers the machine's own architecture and the listed ones it can run; a syscall of any other
  architecture gets libseccomp's "bad architecture" action, SECCOMP_RET_KILL_THREAD (runc and crun keep
  libseccomp's default). On x86_64 without SCMP_ARCH_X32, a syscall number with __X32_SYSCALL_BIT gets it too,
  except -1, which the kernel uses for a syscall a tracer skipped. Listed architectures that this machine cannot
  run (SCMP_ARCH_MIPS on x86_64) can never show up, so they are left out; so is SCMP_ARCH_ARM on aarch64, for
  which there is no syscall table yet: 32-bit ARM programs get the bad architecture action there.
- Names unknown to every architecture's table are skipped, as runc does (a newer profile on an older kernel), once
  they are checked to look like syscall names; a name is used on each architecture that has it.
- A rule whose action (and errno) equals the default action is skipped, as runc does (libseccomp refuses it).
- The conditions of a rule all have to hold; but when two of them test the same argument, runc adds each as a
  rule of its own, so they are alternatives, and so they are here.
- An unconditional rule for a syscall wins over its conditional ones, and the first unconditional rule over later
  ones (libseccomp). Among conditional rules that all match, libseccomp's choice follows the shape of its decision
  tree; here the most restrictive action wins (the kernel's order for stacked filters: KILL_PROCESS, KILL_THREAD,
  TRAP, ERRNO, TRACE, LOG, ALLOW), and between equals the earlier rule.
- 32-bit x86 also reaches the socket and System V IPC calls through socketcall(2) and ipc(2), the call's number
  in their first argument. As libseccomp does, a rule on such a call (socket, shmat...) also applies to the
  multiplexer when its first argument is that number: for socketcall without the rule's other conditions (the
  call's own arguments are in memory), for ipc with the conditions on the other arguments kept.
- Arguments are compared as unsigned 64-bit values; on a 32-bit ABI (x86, x32) only the low 32 bits of the
  argument and of the values are compared, as libseccomp does. SCMP_CMP_MASKED_EQ holds when
  (argument & value) == (valueTwo & value): libseccomp masks both sides.
- runc's -ENOSYS stub: unless the default action is ALLOW, LOG or TRACE, or defaultErrnoRet is ENOSYS, a syscall
  numbered above the highest number the profile names on its listed architecture fails with ENOSYS instead of
  the default action, so that programs fall back from syscalls newer than the profile (clone3, say).
"""

from __future__ import annotations

import errno
import re

from . import seccomp_abi as abi
from .errors import SpecError
from .record import record
from .spec_json import item, join
from .spec_seccomp import Seccomp, SeccompArg
from .syscall_table import MULTIPLEXED, NUMBERS, X32_SYSCALL_BIT

# What a syscall name looks like (the kernel's are lower-case C identifiers); anything else is a typo to report.
SYSCALL_NAME = re.compile(r"[a-z_][a-z0-9_]{0,63}")
ACTIONS = {
    "SCMP_ACT_KILL": abi.SECCOMP_RET_KILL_THREAD,
    "SCMP_ACT_KILL_THREAD": abi.SECCOMP_RET_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": abi.SECCOMP_RET_KILL_PROCESS,
    "SCMP_ACT_TRAP": abi.SECCOMP_RET_TRAP,
    "SCMP_ACT_ERRNO": abi.SECCOMP_RET_ERRNO,
    "SCMP_ACT_TRACE": abi.SECCOMP_RET_TRACE,
    "SCMP_ACT_ALLOW": abi.SECCOMP_RET_ALLOW,
    "SCMP_ACT_LOG": abi.SECCOMP_RET_LOG,
}
# The actions that carry a number (errnoRet): the errno to fail with, or the value a tracer reads. Both default
# to EPERM, as in runc.
ACTIONS_WITH_ERRNO = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")
# Default actions for which runc adds no -ENOSYS stub: the syscalls they let through need no fallback.
_PERMISSIVE = (abi.SECCOMP_RET_ALLOW, abi.SECCOMP_RET_LOG, abi.SECCOMP_RET_TRACE)
# Flags that need an SCMP_ACT_NOTIFY listener, which this runtime does not support (the parser refuses the action).
_LISTENER_FLAGS = ("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",)


@record(frozen=True)
class Rule:
    """Return `action` (a SECCOMP_RET_* value with its data) when every condition holds; no conditions: always."""

    action: int
    conditions: tuple[SeccompArg, ...] = ()


@record(frozen=True)
class SyscallPlan:
    """What syscall number `nr` does: the first of `rules` that matches, else the default action."""

    nr: int
    rules: tuple[Rule, ...]
    wide: bool  # arguments compared on 64 bits (False: the low 32 bits only)


@record(frozen=True)
class Section:
    """The syscalls whose seccomp_data.arch is `audit_arch`, sorted by number (x86_64's holds x32's too)."""

    audit_arch: int
    syscalls: tuple[SyscallPlan, ...]
    reject_x32: bool = False  # a number with __X32_SYSCALL_BIT (but -1) gets the bad architecture action
    newest: int | None = None  # the -ENOSYS stub: numbers above it fail with ENOSYS (None: no stub)
    newest_x32: int | None = None  # the same for x32 numbers, in x86_64's section


@record(frozen=True)
class Plan:
    """A whole filter: sections by architecture, the default and bad architecture actions, seccomp(2) flags."""

    default_action: int
    sections: tuple[Section, ...]
    flags: int = 0
    bad_arch_action: int = abi.SECCOMP_RET_KILL_THREAD
    skipped_names: tuple[str, ...] = ()  # names no syscall table knows, skipped as runc skips them


def action_value(action: str, errno_ret: int | None, path: str, errno_path: str) -> int:
    """The SECCOMP_RET_* value of an action and its errnoRet (`errno_path` names that field in errors)."""
    if action not in ACTIONS_WITH_ERRNO:
        if errno_ret is not None:
            raise SpecError(errno_path, f"only {' and '.join(ACTIONS_WITH_ERRNO)} return an errno, not {action}")
        return ACTIONS[action]
    data = errno.EPERM if errno_ret is None else errno_ret
    if data > abi.SECCOMP_RET_DATA:
        raise SpecError(errno_path, f"{data} does not fit SECCOMP_RET_DATA (16 bits, at most {abi.SECCOMP_RET_DATA})")
    return ACTIONS[action] | data


def filter_flags(names: tuple[str, ...], path: str) -> int:
    """The seccomp(2) flags of linux.seccomp.flags; the ones that need a listener are refused by name. TSYNC is
    passed on (runc drops it): the process that loads the filter has a single thread, so it changes nothing."""
    flags = 0
    for index, name in enumerate(names):
        if name in _LISTENER_FLAGS:
            raise SpecError(item(path, index), f"{name} only applies to SCMP_ACT_NOTIFY, whose listener this runtime "
                                               "does not support")
        flags |= abi.FILTER_FLAGS[name]
    return flags


def syscall_number(arch: str, name: str) -> int | None:
    """The number of syscall `name` on libseccomp architecture `arch` (x32's with its bit), or None."""
    number = NUMBERS[arch].get(name)
    if number is not None and arch == "SCMP_ARCH_X32":
        number |= X32_SYSCALL_BIT
    return number


def filter_arches(seccomp: Seccomp, machine: str, path: str) -> tuple[str, ...]:
    """The architectures the filter covers: the machine's own first, then the listed ones it can run."""
    native = abi.NATIVE_ARCHES.get(machine)
    if native is None:
        raise SpecError(path, f"seccomp filters are not supported on {machine} (only on "
                              f"{', '.join(abi.NATIVE_ARCHES)}): no syscall table")
    runnable = [arch for arch in abi.RUNNABLE_ARCHES[machine] if arch in NUMBERS]
    return tuple(dict.fromkeys([native, *(arch for arch in seccomp.architectures if arch in runnable)]))


def plan_seccomp(seccomp: Seccomp, machine: str, path: str = "linux.seccomp") -> Plan:
    """The plan of `seccomp` on a `machine` (os.uname().machine); SpecError naming the JSON path if it is invalid."""
    default = action_value(seccomp.default_action, seccomp.default_errno_ret, join(path, "defaultAction"),
                           join(path, "defaultErrnoRet"))
    flags = filter_flags(seccomp.flags, join(path, "flags"))
    arches = filter_arches(seccomp, machine, path)
    by_number: dict[tuple[str, int], list[tuple[int, Rule]]] = {}
    skipped: list[str] = []
    for index, rule in enumerate(seccomp.syscalls):
        rule_path = item(join(path, "syscalls"), index)
        action = action_value(rule.action, rule.errno_ret, join(rule_path, "action"), join(rule_path, "errnoRet"))
        for name_index, name in enumerate(rule.names):
            if not SYSCALL_NAME.fullmatch(name):
                raise SpecError(item(join(rule_path, "names"), name_index), f"{name!r} is not a syscall name")
            if not any(name in numbers for numbers in (*NUMBERS.values(), *MULTIPLEXED.values())):
                skipped.append(name)
        if action == default:
            continue  # runc skips it: libseccomp refuses a rule that repeats the default action
        for name in rule.names:
            for arch in arches:
                for number, alternative in resolved_rules(arch, name, action, rule.args):
                    by_number.setdefault((arch, number), []).append((index, alternative))
    newest = _newest_numbers(seccomp, arches, default)
    # x32 syscalls carry x86_64's AUDIT_ARCH, and x86_64 is always in (x32 only runs on an x86_64 machine).
    sections = tuple(_section(arch, arches, by_number, newest) for arch in arches if arch != "SCMP_ARCH_X32")
    return Plan(default_action=default, sections=sections, flags=flags, skipped_names=tuple(dict.fromkeys(skipped)))


def resolved_rules(arch: str, name: str, action: int, args: tuple[SeccompArg, ...]) -> list[tuple[int, Rule]]:
    """The (syscall number, rule) pairs that one name of a profile entry adds on `arch`."""
    rules = alternatives(action, args)
    number = syscall_number(arch, name)
    found = [(number, rule) for rule in rules] if number is not None else []
    if arch == "SCMP_ARCH_X86":
        for multiplexer, calls in MULTIPLEXED.items():
            if name in calls:
                found += [(NUMBERS[arch][multiplexer], _multiplexed(multiplexer, calls[name], rule)) for rule in rules]
    return found


def _multiplexed(multiplexer: str, call: int, rule: Rule) -> Rule:
    """`rule` on socketcall or ipc: the first argument names the call; ipc keeps the other conditions."""
    kept = () if multiplexer == "socketcall" else tuple(c for c in rule.conditions if c.index != 0)
    return Rule(rule.action, (SeccompArg(index=0, value=call, op="SCMP_CMP_EQ"), *kept))


def alternatives(action: int, args: tuple[SeccompArg, ...]) -> list[Rule]:
    """The rules one profile entry adds: one with all its conditions, or, when two of them test the same argument,
    one per condition (runc's way, so such conditions are alternatives)."""
    indexes = [arg.index for arg in args]
    if len(set(indexes)) < len(indexes):
        return [Rule(action, (arg,)) for arg in args]
    return [Rule(action, tuple(args))]


def _section(arch: str, arches: tuple[str, ...], by_number: dict, newest: dict[str, int]) -> Section:
    """The section of `arch`'s AUDIT_ARCH value; for x86_64 it takes in x32 (the same AUDIT_ARCH) when listed."""
    members = [arch] + (["SCMP_ARCH_X32"] if arch == "SCMP_ARCH_X86_64" and "SCMP_ARCH_X32" in arches else [])
    syscalls = [SyscallPlan(number, ordered_rules(entries), abi.WIDE_ARGUMENTS[member])
                for (member, number), entries in by_number.items() if member in members]
    return Section(audit_arch=abi.AUDIT_ARCHES[arch], syscalls=tuple(sorted(syscalls, key=lambda plan: plan.nr)),
                   reject_x32=arch == "SCMP_ARCH_X86_64" and "SCMP_ARCH_X32" not in arches,
                   newest=newest.get(arch),
                   newest_x32=newest.get("SCMP_ARCH_X32") if arch == "SCMP_ARCH_X86_64" else None)


def ordered_rules(entries: list[tuple[int, Rule]]) -> tuple[Rule, ...]:
    """The rules of one syscall in the order they are tried (entries are (profile index, rule) in profile order)."""
    unconditional = [rule for _, rule in entries if not rule.conditions]
    if unconditional:
        return (unconditional[0],)
    ranked = sorted(entries, key=lambda entry: (abi.PRECEDENCE.index(entry[1].action & abi.SECCOMP_RET_ACTION_FULL),
                                                entry[0]))
    return tuple(dict.fromkeys(rule for _, rule in ranked))


def _newest_numbers(seccomp: Seccomp, arches: tuple[str, ...], default: int) -> dict[str, int]:
    """runc's -ENOSYS stub: per listed architecture, the highest syscall number the profile names there."""
    if default & abi.SECCOMP_RET_ACTION_FULL in _PERMISSIVE or seccomp.default_errno_ret == errno.ENOSYS:
        return {}
    newest = {}
    for arch in arches:
        if arch not in seccomp.architectures:
            continue  # runc looks at the listed architectures only
        # libseccomp has no number of its own for x86's multiplexed calls (it returns a negative pseudo number),
        # so they do not count there.
        numbers = [syscall_number(arch, name) for rule in seccomp.syscalls for name in rule.names
                   if arch != "SCMP_ARCH_X86" or not any(name in calls for calls in MULTIPLEXED.values())]
        highest = max((number for number in numbers if number is not None), default=0)
        if highest:
            newest[arch] = highest
    return newest
