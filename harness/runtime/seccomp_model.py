"""The tests' reference model of a linux.seccomp profile: the verdict for one syscall, computed directly.

Written apart from the compiler (seccomp_plan.py, seccomp_codegen.py) and in the plainest way, straight from the
rules in seccomp_plan's docstring, so that the property tests can hold the compiled program to it. Only the
syscall tables and the kernel's constants are shared. Covers x86_64 machines (the harness's guests).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, partial

from . import seccomp_abi as abi
from .spec_seccomp import Seccomp, SeccompRule
from .syscall_table import MULTIPLEXED, NUMBERS, X32_SYSCALL_BIT

ENOSYS, EPERM = 38, 1
_U32 = (1 << 32) - 1
_X86_64_ABIS = ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32")
_ACTION_BASE = {"SCMP_ACT_KILL": 0, "SCMP_ACT_KILL_THREAD": 0, "SCMP_ACT_KILL_PROCESS": 0x80000000,
                "SCMP_ACT_TRAP": 0x30000, "SCMP_ACT_ERRNO": 0x50000, "SCMP_ACT_TRACE": 0x7FF00000,
                "SCMP_ACT_LOG": 0x7FFC0000, "SCMP_ACT_ALLOW": 0x7FFF0000}
# Most restrictive first.
_RANK = ("SCMP_ACT_KILL_PROCESS", ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"), "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
         "SCMP_ACT_TRACE", "SCMP_ACT_LOG", "SCMP_ACT_ALLOW")


def action(name: str, errno_ret: int | None) -> int:
    if name in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        return _ACTION_BASE[name] | (EPERM if errno_ret is None else errno_ret)
    return _ACTION_BASE[name]


def rank(name: str) -> int:
    return next(position for position, names in enumerate(_RANK) if name == names or name in names)


def covered(profile: Seccomp) -> set[str]:
    """x86_64 always, and the listed ABIs of an x86_64 machine."""
    return {"SCMP_ARCH_X86_64"} | {arch for arch in profile.architectures if arch in _X86_64_ABIS}


def abi_of(arch: int, nr: int) -> str | None:
    """Which ABI a syscall comes from: x32 is x86_64's AUDIT_ARCH with __X32_SYSCALL_BIT in the number."""
    if arch == abi.AUDIT_ARCH_I386:
        return "SCMP_ARCH_X86"
    if arch == abi.AUDIT_ARCH_X86_64:
        return "SCMP_ARCH_X32" if nr & X32_SYSCALL_BIT else "SCMP_ARCH_X86_64"
    return None


def number(abi_name: str, name: str) -> int | None:
    found = NUMBERS[abi_name].get(name)
    if found is not None and abi_name == "SCMP_ARCH_X32":
        found += X32_SYSCALL_BIT
    return found


def holds(op: str, argument: int, value: int, value_two: int) -> bool:
    return {"SCMP_CMP_EQ": argument == value, "SCMP_CMP_NE": argument != value, "SCMP_CMP_LT": argument < value,
            "SCMP_CMP_LE": argument <= value, "SCMP_CMP_GT": argument > value, "SCMP_CMP_GE": argument >= value,
            "SCMP_CMP_MASKED_EQ": argument & value == value_two & value}[op]


@lru_cache(maxsize=8192)  # the sweeps ask the same syscall once per argument vector
def candidates(profile: Seccomp, arch: int, nr: int) -> list[tuple[int, SeccompRule, bool, Callable]]:
    """(profile index, rule, unconditional?, test of the arguments) of each rule that names this syscall, or the
    multiplexer it is reached through on x86; rules repeating the default action are left out (runc)."""
    default = action(profile.default_action, profile.default_errno_ret)
    found = []
    for index, rule in enumerate(profile.syscalls):
        if action(rule.action, rule.errno_ret) == default:
            continue
        for abi_name in sorted(covered(profile)):
            if abi.AUDIT_ARCHES[abi_name] != arch:
                continue
            narrow = abi_name != "SCMP_ARCH_X86_64"
            for name in rule.names:
                if number(abi_name, name) == nr:
                    found.append((index, rule, not rule.args, partial(_rule_holds, rule.args, narrow)))
                for multiplexer, calls in MULTIPLEXED.items():
                    if abi_name == "SCMP_ARCH_X86" and name in calls and nr == NUMBERS[abi_name][multiplexer]:
                        found.append((index, rule, False,
                                      partial(_multiplexed_holds, multiplexer, calls[name], rule.args)))
    return sorted(found, key=lambda candidate: candidate[0])


def _condition_holds(arg, args: tuple[int, ...], narrow: bool) -> bool:
    argument, value, value_two = args[arg.index], arg.value, arg.value_two
    if narrow:
        argument, value, value_two = argument & _U32, value & _U32, value_two & _U32
    return holds(arg.op, argument, value, value_two)


def _repeats_an_argument(conditions) -> bool:
    indexes = [arg.index for arg in conditions]
    return len(set(indexes)) < len(indexes)


def _rule_holds(conditions, narrow: bool, args: tuple[int, ...]) -> bool:
    """All conditions; but any one of them when two test the same argument (runc adds each as its own rule)."""
    results = [_condition_holds(arg, args, narrow) for arg in conditions]
    return any(results) if _repeats_an_argument(conditions) else all(results)


def _multiplexed_holds(multiplexer: str, call: int, conditions, args: tuple[int, ...]) -> bool:
    """socketcall: the first argument is the call; ipc: that, and the conditions on the other arguments."""
    if args[0] & _U32 != call:
        return False
    if multiplexer == "socketcall":
        return True
    results = [arg.index == 0 or _condition_holds(arg, args, True) for arg in conditions]
    return any(results) if _repeats_an_argument(conditions) else all(results)


@lru_cache(maxsize=64)
def _newest(profile: Seccomp, abi_name: str) -> int:
    """The highest number the profile names on `abi_name` (libseccomp has none for x86's multiplexed calls)."""
    multiplexed = {name for calls in MULTIPLEXED.values() for name in calls} if abi_name == "SCMP_ARCH_X86" else ()
    named = [number(abi_name, name) for rule in profile.syscalls for name in rule.names if name not in multiplexed]
    return max((found for found in named if found is not None), default=0)


def verdict(profile: Seccomp, arch: int, nr: int, args: tuple[int, ...] = ()) -> int:
    """What the kernel returns for syscall `nr` (unsigned 32-bit) of `arch` under `profile`, on x86_64."""
    default = action(profile.default_action, profile.default_errno_ret)
    abi_name = abi_of(arch, nr)
    if abi_name is None or (abi_name == "SCMP_ARCH_X86" and abi_name not in covered(profile)):
        return abi.SECCOMP_RET_KILL_THREAD
    stub = default & 0xFFFF0000 not in (abi.SECCOMP_RET_ALLOW, abi.SECCOMP_RET_LOG, abi.SECCOMP_RET_TRACE) \
        and profile.default_errno_ret != ENOSYS
    if stub and abi_name in profile.architectures:
        newest = _newest(profile, abi_name)
        if newest and nr > newest:
            return abi.SECCOMP_RET_ERRNO | ENOSYS
    if arch == abi.AUDIT_ARCH_X86_64 and "SCMP_ARCH_X32" not in covered(profile) and X32_SYSCALL_BIT <= nr < _U32:
        return abi.SECCOMP_RET_KILL_THREAD
    found = candidates(profile, arch, nr)
    unconditional = [rule for _, rule, always, _ in found if always]
    if unconditional:
        return action(unconditional[0].action, unconditional[0].errno_ret)  # the first one, whatever follows
    padded = tuple(args) + (0,) * (6 - len(args))
    matches = [(index, rule) for index, rule, _, test in found if test(padded)]
    if not matches:
        return default
    _, chosen = min(matches, key=lambda match: (rank(match[1].action), match[0]))
    return action(chosen.action, chosen.errno_ret)
